/*
 * How the local API listens, private to agent/api/ (tls.c): HTTPS through
 * libmicrohttpd's TLS (GnuTLS) when [api] tls_cert and tls_key are set, and
 * the rule that the API never carries its bearer token and personal data in
 * clear over a network: a listen address that is not loopback needs TLS, or
 * an explicit `allow_plaintext = yes`, warned at every start.
 */
#ifndef LIMES_API_TLS_H
#define LIMES_API_TLS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct config;

/* The daemon options for one MHD_start_daemon call (through MHD_OPTION_ARRAY).
 * Owns the PEM copies until api_tls_clear, which wipes the key. */
struct api_tls {
	char *cert;
	char *key;
	size_t key_len;
	struct MHD_OptionItem options[4];
};

/* Fills tls for cfg's [api] listening on addr (borrowed): with tls_cert,
 * reads both files (the key under the secret-file rule), adds MHD_USE_TLS to
 * *flags and the certificate, key and protocol versions to tls->options;
 * without, refuses a non-loopback addr unless allow_plaintext, which it
 * warns about. tls->options ends with MHD_OPTION_END either way. 0, or
 * LIMES_E_CONFIG (or the key file's LIMES_E_KEY_*, LIMES_E_NOENT, ...) with
 * err naming the setting and the file. Call api_tls_clear in every case. */
int api_tls_setup(struct api_tls *tls, const struct config *cfg, const struct sockaddr *addr, unsigned *flags,
		  char *err, size_t err_len);
/* Frees the PEM copies, wiping the key; accepts a zeroed or cleared tls. */
void api_tls_clear(struct api_tls *tls);
/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool api_tls_is_loopback(const struct sockaddr *addr);

#endif
