/* Hex and base64url, wrapping libsodium's constant-time codecs. */
#include "crypto/encode.h"

#include <sodium.h>

#include "proto/err.h"

int encode_hex(char *out, size_t out_len, const uint8_t *bin, size_t bin_len)
{
	if (!out || (!bin && bin_len) || bin_len > (SIZE_MAX - 1) / 2 || out_len < bin_len * 2 + 1)
		return LIMES_E_TOOBIG;
	sodium_bin2hex(out, out_len, bin, bin_len);
	return 0;
}

int encode_unhex(uint8_t *out, size_t out_len, const char *hex, size_t hex_len)
{
	size_t written = 0;
	const char *end = NULL;

	if (!out || !hex || out_len > SIZE_MAX / 2 || hex_len != out_len * 2)
		return LIMES_E_INVAL;
	if (sodium_hex2bin(out, out_len, hex, hex_len, NULL, &written, &end) != 0 ||
	    written != out_len || end != hex + hex_len) {
		sodium_memzero(out, out_len);
		return LIMES_E_INVAL;
	}
	return 0;
}

int encode_base64url(char *out, size_t out_len, const uint8_t *bin, size_t bin_len)
{
	const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

	if (!out || (!bin && bin_len) || bin_len > SIZE_MAX / 2 ||
	    out_len < sodium_base64_ENCODED_LEN(bin_len, variant))
		return LIMES_E_TOOBIG;
	sodium_bin2base64(out, out_len, bin, bin_len, variant);
	return 0;
}

int encode_unbase64url(uint8_t *out, size_t out_len, size_t *written, const char *b64, size_t b64_len)
{
	const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
	size_t n = 0;
	const char *end = NULL;

	if (written)
		*written = 0;
	if (!out || !b64)
		return LIMES_E_INVAL;
	/* Three bytes per four characters: refuse early rather than half-decode. */
	if (b64_len / 4 * 3 + (b64_len % 4 ? b64_len % 4 - 1 : 0) > out_len)
		return LIMES_E_TOOBIG;
	if (sodium_base642bin(out, out_len, b64, b64_len, NULL, &n, &end, variant) != 0 ||
	    end != b64 + b64_len) {
		sodium_memzero(out, out_len);
		return LIMES_E_INVAL;
	}
	if (written)
		*written = n;
	return 0;
}
