/* Digest, constant-time comparison and wiping of secrets held by other modules. */
#include "crypto/secret.h"

#include <sodium.h>

#define DOMAIN_SECRET "limes/secret/v1"

void secret_digest(const void *buf, size_t len, uint8_t out[SECRET_DIGEST_LEN])
{
	crypto_generichash(out, SECRET_DIGEST_LEN, buf, len, (const unsigned char *)DOMAIN_SECRET,
			   sizeof(DOMAIN_SECRET));
}

bool secret_digest_equal(const uint8_t a[SECRET_DIGEST_LEN], const uint8_t b[SECRET_DIGEST_LEN])
{
	return sodium_memcmp(a, b, SECRET_DIGEST_LEN) == 0;
}

bool secret_matches(const void *candidate, size_t len, const uint8_t expected[SECRET_DIGEST_LEN])
{
	uint8_t d[SECRET_DIGEST_LEN];
	bool same;

	/* Comparing digests hides the expected length as well as the contents. */
	secret_digest(candidate, len, d);
	same = secret_digest_equal(d, expected);
	sodium_memzero(d, sizeof(d));
	return same;
}

void secret_wipe(void *buf, size_t len)
{
	if (buf && len)
		sodium_memzero(buf, len);
}
