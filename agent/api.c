/* Placeholder until the HTTP API lands: lets the agent build and run links. */
#include "agent/api.h"
#include <stdlib.h>
struct api { int unused; };
struct api *api_new(struct agent *agent, char *err, size_t err_len) { (void)agent; (void)err; (void)err_len; return calloc(1, sizeof(struct api)); }
void api_stop(struct api *api) { (void)api; }
void api_destroy(struct api **api) { if (api) { free(*api); *api = NULL; } }
void api_inbox_changed(struct api *api) { (void)api; }
