/*
 * HTTPS for the local API and the plain-HTTP rule (see api_tls.h).
 * libmicrohttpd hands the PEM texts to GnuTLS, which parses and keeps its
 * own copy when the daemon starts: ours is wiped right after.
 */
#include "api_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "config/config.h"
#include "crypto/secret.h"
#include "proto/err.h"

#define PEM_MAX (256u * 1024) /* a certificate chain, or a key: far below */

/* TLS 1.2 and 1.3 only, GnuTLS's normal cipher choice within them. */
static const char tls_priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

bool api_tls_is_loopback(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* Reads a public PEM file (the certificate chain) into a new NUL-terminated
 * buffer; err says why not (without the path, which the caller names). */
static int read_pem(const char *path, char **out, char *err, size_t err_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int rc = LIMES_E_IO;

	if (fd < 0) {
		rc = limes_from_errno(errno);
		snprintf(err, err_len, "%s", strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "not a regular file");
		goto out;
	}
	if ((size_t)st.st_size > PEM_MAX) {
		rc = LIMES_E_TOOBIG;
		snprintf(err, err_len, "%lld bytes, a certificate chain is at most %u", (long long)st.st_size,
			 PEM_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = LIMES_E_NOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "%s", n < 0 ? strerror(errno) : "shorter than its size");
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int api_tls_setup(struct api_tls *tls, const struct config *cfg, const struct sockaddr *addr, unsigned *flags,
		  char *err, size_t err_len)
{
	char why[512];
	int rc;

	memset(tls, 0, sizeof(*tls));
	tls->options[0].option = MHD_OPTION_END;
	if (!cfg->tls_cert[0]) {
		if (api_tls_is_loopback(addr))
			return 0;
		if (!cfg->allow_plaintext) {
			bool v6 = strchr(cfg->api_host, ':') != NULL;
			snprintf(err, err_len,
				 "%s: [api] listen %s%s%s:%u is not a loopback address, and without TLS the API would "
				 "carry the bearer token and personal data in clear: set [api] tls_cert and tls_key "
				 "(or allow_plaintext = yes to accept that)",
				 cfg->path, v6 ? "[" : "", cfg->api_host, v6 ? "]" : "", cfg->api_port);
			return LIMES_E_CONFIG;
		}
		log_warn("event=api_plaintext address=%s:%u reason=\"[api] allow_plaintext = yes: the API listens "
			 "on a non-loopback address without TLS; the bearer token and personal data cross the "
			 "network in clear\"",
			 cfg->api_host, cfg->api_port);
		return 0;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, err_len, "%s: [api] tls_cert is set but this libmicrohttpd was built without TLS",
			 cfg->path);
		return LIMES_E_CONFIG;
	}
	rc = read_pem(cfg->tls_cert, &tls->cert, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, err_len, "%s: [api] tls_cert %s: %s", cfg->path, cfg->tls_cert, why);
		return rc;
	}
	tls->key = malloc(PEM_MAX + 1);
	if (!tls->key) {
		snprintf(err, err_len, "out of memory");
		return LIMES_E_NOMEM;
	}
	rc = secret_file_read(cfg->tls_key, "TLS key file", tls->key, PEM_MAX, &tls->key_len, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, err_len, "%s: [api] tls_key: %s", cfg->path, why);
		return rc;
	}
	tls->key[tls->key_len] = '\0';
	*flags |= MHD_USE_TLS;
	tls->options[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert };
	tls->options[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key };
	tls->options[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities };
	tls->options[3] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return 0;
}

void api_tls_clear(struct api_tls *tls)
{
	if (tls->key) {
		secret_wipe(tls->key, PEM_MAX + 1);
		free(tls->key);
	}
	free(tls->cert);
	memset(tls, 0, sizeof(*tls));
}
