/* Identities: key files and their modes, load-time refusals, public lines. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/err.h"
#include "crypto/encode.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "crypto/secret.h"
#include "support/crypto_testutil.h"

static char dir[256];
static char keydir[512];
static char keyfile[600];

static void setup(void)
{
	cr_assert(eq(int, random_init(), 0));
	cr_assert(eq(int, ct_mkdtemp(dir, sizeof(dir), "identity"), 0));
	snprintf(keydir, sizeof(keydir), "%s/keys", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/identity.key", keydir);
}

static void teardown(void)
{
	ct_rmtree(dir);
}

TestSuite(identity, .init = setup, .fini = teardown, .timeout = 60);

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 8192);
	size_t n;

	cr_assert(f != NULL, "cannot open %s", path);
	n = fread(buf, 1, 8191, f);
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

static void spew(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0);
	cr_assert(eq(sz, (size_t)write(fd, text, strlen(text)), strlen(text)));
	close(fd);
}

/* Makes a key and returns load's result code and reason. */
static int load_rc(char *why, size_t why_len)
{
	int err = 12345;
	struct identity *id = identity_load(keydir, &err, why, why_len);

	if (id) {
		cr_assert(eq(int, err, 0));
		identity_destroy(&id);
		return 0;
	}
	cr_assert(lt(int, err, 0));
	return err;
}

Test(identity, keygen_writes_key_0600_and_pub_line_in_new_0700_dir)
{
	char line[IDENTITY_LINE_SIZE], pubpath[600], why[256], again[IDENTITY_LINE_SIZE];
	struct stat st;
	struct peer_key pk;
	struct identity *id;
	char *pub;
	int err;

	cr_assert(eq(int, identity_generate(keydir, false, line, sizeof(line)), 0));
	cr_assert(eq(sz, strlen(line), IDENTITY_LINE_LEN));
	cr_assert(eq(int, strncmp(line, "limes1:", 7), 0));
	cr_assert(eq(int, stat(keydir, &st), 0));
	cr_assert(eq(u32, st.st_mode & 07777, 0700));
	cr_assert(eq(int, lstat(keyfile, &st), 0));
	cr_assert(eq(u32, st.st_mode & S_IFMT, S_IFREG));
	cr_assert(eq(u32, st.st_mode & 07777, 0600));
	snprintf(pubpath, sizeof(pubpath), "%s/identity.pub", keydir);
	pub = slurp(pubpath, NULL);
	cr_assert(eq(sz, strlen(pub), IDENTITY_LINE_LEN + 1));
	cr_assert(eq(int, strncmp(pub, line, IDENTITY_LINE_LEN), 0));
	cr_assert(eq(chr, pub[IDENTITY_LINE_LEN], '\n'));
	cr_assert(eq(int, identity_line_parse(pub, &pk, why, sizeof(why)), 0), "%s", why);
	free(pub);

	id = identity_load(keydir, &err, why, sizeof(why));
	cr_assert(id != NULL, "%s", why);
	cr_assert(eq(int, memcmp(&pk, identity_public(id), sizeof(pk)), 0));
	cr_assert(eq(int, identity_line_format(identity_public(id), again, sizeof(again)), 0));
	cr_assert(eq(str, again, line));
	identity_destroy(&id);
	cr_assert(id == NULL);
	identity_destroy(&id);
	identity_destroy(NULL);
}

Test(identity, keygen_leaves_no_temp_files)
{
	char cmd[700];

	cr_assert(eq(int, identity_generate(keydir, false, NULL, 0), 0));
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", keydir);
	cr_assert(eq(int, system(cmd), 0));
}

Test(identity, keygen_refuses_to_overwrite_without_force)
{
	char first[IDENTITY_LINE_SIZE], second[IDENTITY_LINE_SIZE], why[256];
	char *before, *after;
	struct identity *id;
	int err;

	cr_assert(eq(int, identity_generate(keydir, false, first, sizeof(first)), 0));
	before = slurp(keyfile, NULL);
	cr_assert(eq(int, identity_generate(keydir, false, second, sizeof(second)), LIMES_E_EXISTS));
	after = slurp(keyfile, NULL);
	cr_assert(eq(str, before, after));
	cr_assert(eq(int, identity_generate(keydir, true, second, sizeof(second)), 0));
	cr_assert(ne(str, first, second));
	id = identity_load(keydir, &err, why, sizeof(why));
	cr_assert(id != NULL, "%s", why);
	identity_line_format(identity_public(id), first, sizeof(first));
	cr_assert(eq(str, first, second));
	identity_destroy(&id);
	free(before);
	free(after);
}

Test(identity, keygen_refuses_short_line_buffer)
{
	char line[IDENTITY_LINE_LEN];

	cr_assert(eq(int, identity_generate(keydir, false, line, sizeof(line)), LIMES_E_TOOBIG));
}

Test(identity, load_refuses_missing_key)
{
	char why[512];

	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_NOTFOUND));
	cr_assert(strstr(why, keyfile) != NULL, "%s", why);
}

static void check_mode_refused(mode_t mode)
{
	char why[512], want[32];

	cr_assert(eq(int, identity_generate(keydir, false, NULL, 0), 0));
	cr_assert(eq(int, chmod(keyfile, mode), 0));
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_MODE), "mode %o: %s", (unsigned)mode, why);
	snprintf(want, sizeof(want), "mode 0%o", (unsigned)mode);
	cr_assert(strstr(why, keyfile) != NULL, "%s", why);
	cr_assert(strstr(why, want) != NULL, "%s", why);
	cr_assert(strstr(why, "chmod 600") != NULL, "%s", why);
}

Test(identity, load_refuses_group_readable_0640) { check_mode_refused(0640); }
Test(identity, load_refuses_world_readable_0604) { check_mode_refused(0604); }
Test(identity, load_refuses_group_writable_0620) { check_mode_refused(0620); }
Test(identity, load_refuses_world_executable_0601) { check_mode_refused(0601); }

Test(identity, load_accepts_0400)
{
	char why[512];

	cr_assert(eq(int, identity_generate(keydir, false, NULL, 0), 0));
	cr_assert(eq(int, chmod(keyfile, 0400), 0));
	cr_assert(eq(int, load_rc(why, sizeof(why)), 0), "%s", why);
}

Test(identity, load_refuses_symlink)
{
	char why[512], real[700];

	cr_assert(eq(int, identity_generate(keydir, false, NULL, 0), 0));
	snprintf(real, sizeof(real), "%s/real.key", dir);
	cr_assert(eq(int, rename(keyfile, real), 0));
	cr_assert(eq(int, symlink(real, keyfile), 0));
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_SYMLINK), "%s", why);
	cr_assert(strstr(why, keyfile) != NULL, "%s", why);
	cr_assert(strstr(why, "symbolic link") != NULL, "%s", why);
}

Test(identity, load_refuses_directory)
{
	char why[512];

	cr_assert(eq(int, mkdir(keydir, 0700), 0));
	cr_assert(eq(int, mkdir(keyfile, 0700), 0));
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_NOT_REGULAR), "%s", why);
	cr_assert(strstr(why, "directory") != NULL, "%s", why);
}

Test(identity, load_refuses_fifo_without_blocking)
{
	char why[512];

	cr_assert(eq(int, mkdir(keydir, 0700), 0));
	cr_assert(eq(int, mkfifo(keyfile, 0600), 0));
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_NOT_REGULAR), "%s", why);
	cr_assert(strstr(why, "FIFO") != NULL, "%s", why);
}

Test(identity, load_refuses_foreign_owner)
{
	char why[512];

	if (geteuid() != 0)
		cr_skip_test("needs root to give the file away");
	cr_assert(eq(int, identity_generate(keydir, false, NULL, 0), 0));
	cr_assert(eq(int, chown(keyfile, 65534, 65534), 0));
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_OWNER), "%s", why);
	cr_assert(strstr(why, "uid 65534") != NULL, "%s", why);
}

/* Rewrites the key file with one substring replaced. */
static void damage(const char *from, const char *to)
{
	char *text = slurp(keyfile, NULL), *at = strstr(text, from), out[8192];

	cr_assert(at != NULL, "no \"%s\" in key file", from);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	spew(keyfile, out);
	free(text);
}

Test(identity, load_refuses_damaged_key_files)
{
	char why[512];
	char *text;
	char seedline[200];

	cr_assert(eq(int, identity_generate(keydir, false, NULL, 0), 0));
	text = slurp(keyfile, NULL);
	cr_assert(strstr(text, "limes-identity-key v1\n") != NULL);

	damage("limes-identity-key v1", "limes-identity-key v9");
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_FORMAT), "%s", why);
	cr_assert(strstr(why, "version") != NULL, "%s", why);
	spew(keyfile, text);
	cr_assert(eq(int, load_rc(why, sizeof(why)), 0), "%s", why);

	/* One secret hex digit changed: the public line no longer matches. */
	const char *seed = strstr(text, "ed25519-seed ") + 13;
	snprintf(seedline, sizeof(seedline), "ed25519-seed %c", seed[0] == '0' ? '1' : '0');
	{
		char from[16];
		snprintf(from, sizeof(from), "ed25519-seed %c", seed[0]);
		damage(from, seedline);
	}
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_FORMAT), "%s", why);
	cr_assert(strstr(why, "does not match") != NULL, "%s", why);
	spew(keyfile, text);

	damage("x25519-secret ", "x25519-secret zz");
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_FORMAT), "%s", why);
	cr_assert(strstr(why, ":4:") != NULL, "line number expected: %s", why);
	spew(keyfile, text);

	damage("public limes1:", "public limes2:");
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_FORMAT), "%s", why);
	spew(keyfile, text);

	spew(keyfile, "");
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_FORMAT), "%s", why);
	spew(keyfile, "# only a comment\n");
	cr_assert(eq(int, load_rc(why, sizeof(why)), LIMES_E_KEY_FORMAT), "%s", why);
	spew(keyfile, text);
	cr_assert(eq(int, load_rc(why, sizeof(why)), 0), "%s", why);
	free(text);
}

Test(identity, line_parse_accepts_surrounding_blanks)
{
	char line[IDENTITY_LINE_SIZE], padded[300], why[256];
	struct peer_key pk;

	cr_assert(eq(int, identity_generate(keydir, false, line, sizeof(line)), 0));
	snprintf(padded, sizeof(padded), "  %s \r\n", line);
	cr_assert(eq(int, identity_line_parse(padded, &pk, why, sizeof(why)), 0), "%s", why);
}

static void refused_line(const char *line, const char *reason)
{
	char why[256];
	struct peer_key pk;

	cr_assert(eq(int, identity_line_parse(line, &pk, why, sizeof(why)), LIMES_E_KEY_FORMAT), "line %s", line);
	cr_assert(strstr(why, reason) != NULL, "why \"%s\" lacks \"%s\"", why, reason);
}

Test(identity, line_parse_names_what_is_wrong)
{
	char line[IDENTITY_LINE_SIZE], bad[300];

	cr_assert(eq(int, identity_generate(keydir, false, line, sizeof(line)), 0));

	/* Key id damaged in copying. */
	snprintf(bad, sizeof(bad), "%s", line);
	bad[7] = bad[7] == '0' ? '1' : '0';
	refused_line(bad, "does not match");
	/* A key byte damaged: the key id catches it too. */
	snprintf(bad, sizeof(bad), "%s", line);
	bad[40] = bad[40] == 'A' ? 'B' : 'A';
	refused_line(bad, "does not match");
	/* Not base64url. */
	snprintf(bad, sizeof(bad), "%s", line);
	bad[40] = '+';
	refused_line(bad, "base64url");
	/* Cut short and too long. */
	snprintf(bad, sizeof(bad), "%.*s", IDENTITY_LINE_LEN - 3, line);
	refused_line(bad, "expected 86");
	snprintf(bad, sizeof(bad), "%sAA", line);
	refused_line(bad, "expected 86");
	/* Padding is not allowed. */
	snprintf(bad, sizeof(bad), "%s=", line);
	refused_line(bad, "base64url");
	/* Upper-case or short key id, wrong prefix, missing parts. */
	snprintf(bad, sizeof(bad), "%s", line);
	for (int i = 7; i < 23; i++)
		if (bad[i] >= 'a' && bad[i] <= 'f') {
			bad[i] = (char)(bad[i] - 'a' + 'A');
			break;
		}
	if (strcmp(bad, line) != 0)
		refused_line(bad, "lowercase hex");
	snprintf(bad, sizeof(bad), "limes1:abc:%s", line + 24);
	refused_line(bad, "key id");
	snprintf(bad, sizeof(bad), "limes2:%s", line + 7);
	refused_line(bad, "limes1:");
	refused_line("limes1:0011223344556677", "':'");
	refused_line("", "limes1:");
}

Test(identity, line_parse_refuses_weak_keys)
{
	char line[IDENTITY_LINE_SIZE], why[256];
	struct peer_key pk, parsed;

	cr_assert(eq(int, identity_generate(keydir, false, line, sizeof(line)), 0));
	cr_assert(eq(int, identity_line_parse(line, &pk, why, sizeof(why)), 0));
	memset(pk.box_pk, 0, sizeof(pk.box_pk));
	identity_key_id(pk.sign_pk, pk.box_pk, pk.key_id);
	cr_assert(eq(int, identity_line_format(&pk, line, sizeof(line)), 0));
	cr_assert(eq(int, identity_line_parse(line, &parsed, why, sizeof(why)), LIMES_E_KEY_FORMAT));
	cr_assert(strstr(why, "low-order") != NULL, "%s", why);
	memset(pk.sign_pk, 0, sizeof(pk.sign_pk));
	identity_key_id(pk.sign_pk, pk.box_pk, pk.key_id);
	cr_assert(eq(int, identity_line_format(&pk, line, sizeof(line)), 0));
	cr_assert(eq(int, identity_line_parse(line, &parsed, why, sizeof(why)), LIMES_E_KEY_FORMAT));
	cr_assert(strstr(why, "Ed25519") != NULL, "%s", why);
}

Test(identity, line_format_refuses_short_buffer)
{
	struct identity *id;
	uint8_t seed[32] = { 1 }, box[32] = { 2 };
	char small[IDENTITY_LINE_LEN];

	id = identity_from_seeds(seed, box);
	cr_assert(id != NULL);
	cr_assert(eq(int, identity_line_format(identity_public(id), small, sizeof(small)), LIMES_E_TOOBIG));
	identity_destroy(&id);
}

Test(identity, encode_round_trips_and_refuses_bad_text)
{
	uint8_t bin[5] = { 0xde, 0xad, 0xbe, 0xef, 0x01 }, back[5];
	char hex[ENCODE_HEX_SIZE(5)], b64[ENCODE_BASE64URL_SIZE(5)];
	size_t n = 0;

	cr_assert(eq(int, encode_hex(hex, sizeof(hex), bin, sizeof(bin)), 0));
	cr_assert(eq(str, hex, "deadbeef01"));
	cr_assert(eq(int, encode_unhex(back, sizeof(back), hex, strlen(hex)), 0));
	cr_assert(eq(int, memcmp(back, bin, 5), 0));
	cr_assert(eq(int, encode_unhex(back, sizeof(back), "deadbeef0", 9), LIMES_E_INVAL));
	cr_assert(eq(int, encode_unhex(back, sizeof(back), "deadbeefzz", 10), LIMES_E_INVAL));
	cr_assert(eq(int, encode_hex(hex, sizeof(hex) - 1, bin, sizeof(bin)), LIMES_E_TOOBIG));
	cr_assert(eq(int, encode_base64url(b64, sizeof(b64), bin, sizeof(bin)), 0));
	cr_assert(eq(str, b64, "3q2-7wE"));
	cr_assert(eq(int, encode_unbase64url(back, sizeof(back), &n, b64, strlen(b64)), 0));
	cr_assert(eq(sz, n, 5));
	cr_assert(eq(int, memcmp(back, bin, 5), 0));
	cr_assert(eq(int, encode_unbase64url(back, sizeof(back), &n, "3q2+7wE", 7), LIMES_E_INVAL));
	cr_assert(eq(int, encode_unbase64url(back, 4, &n, b64, strlen(b64)), LIMES_E_TOOBIG));
}

Test(identity, a_secret_file_too_large_leaves_nothing_in_the_buffer)
{
	char path[700], buf[64], why[256];
	size_t len = 99;

	snprintf(path, sizeof(path), "%s/token", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0);
	for (int i = 0; i < 4; i++)
		cr_assert(eq(sz, (size_t)write(fd, "secret-secret-secret-secret-sec\n", 32), 32));
	close(fd);
	memset(buf, 0, sizeof(buf));
	cr_assert(eq(int, secret_file_read(path, "token file", buf, sizeof(buf), &len, why, sizeof(why)),
		     LIMES_E_TOOBIG));
	cr_assert(eq(sz, len, 0));
	for (size_t i = 0; i < sizeof(buf); i++)
		cr_assert(eq(int, buf[i], 0), "byte %zu of the refused secret is still in the buffer", i);
}
