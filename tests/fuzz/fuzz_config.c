/* libFuzzer harness for the INI config parser (config_load_string): any input either yields a checked config or a "name:line: ..." error, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_MAX];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	struct config *cfg = config_load_string(text, "fuzz.ini", "/nonexistent", err, sizeof(err));
	if (!cfg && strncmp(err, "fuzz.ini:", 9) != 0)
		abort(); /* every refusal names the file */
	config_destroy(&cfg);
	free(text);
	return 0;
}
