/*
 * Text encodings of binary values for every module: lowercase hex and
 * base64url without padding (RFC 4648 §5), in constant time, over
 * caller-owned buffers. Decoders accept exactly one canonical form.
 */
#ifndef LIMES_CRYPTO_ENCODE_H
#define LIMES_CRYPTO_ENCODE_H

#include <stddef.h>
#include <stdint.h>

/* Size of the hex text for n bytes, with its NUL. */
#define ENCODE_HEX_SIZE(n) ((n) * 2 + 1)
/* Size of the unpadded base64url text for n bytes, with its NUL. */
#define ENCODE_BASE64URL_SIZE(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0) + 1)

/* Writes lowercase hex of bin into the caller's out (NUL-terminated); LIMES_E_TOOBIG if out_len is short. */
int encode_hex(char *out, size_t out_len, const uint8_t *bin, size_t bin_len);
/* Decodes exactly out_len bytes from hex_len hex digits (either case) into the caller's out; LIMES_E_INVAL otherwise. */
int encode_unhex(uint8_t *out, size_t out_len, const char *hex, size_t hex_len);
/* Writes unpadded base64url of bin into the caller's out (NUL-terminated); LIMES_E_TOOBIG if out_len is short. */
int encode_base64url(char *out, size_t out_len, const uint8_t *bin, size_t bin_len);
/* Decodes unpadded base64url into the caller's out, *written bytes; LIMES_E_INVAL if malformed, LIMES_E_TOOBIG if out is short. */
int encode_unbase64url(uint8_t *out, size_t out_len, size_t *written, const char *b64, size_t b64_len);

#endif
