/* Seeds for the fuzz harnesses: see fuzzseed.h. */
#include "support/fuzzseed.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

void fuzzseed_write(const char *harness, const char *name, const void *buf, size_t len)
{
	const char *root = getenv("LIMES_FUZZ_SEEDS");
	char path[1024];
	if (!root || !*root)
		return;
	mkdir(root, 0700);
	snprintf(path, sizeof(path), "%s/%s", root, harness);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s", root, harness, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(buf, 1, len, f);
	fclose(f);
}
