/*
 * The local HTTP/JSON API (libmicrohttpd), driven from the agent's libuv
 * loop: MHD's epoll descriptor sits on a uv_poll_t and its timeout on a
 * uv_timer_t, so no second thread ever touches agent state. Only this module
 * includes microhttpd.h.
 */
#ifndef LIMES_API_H
#define LIMES_API_H

#include <stddef.h>

struct agent;
struct api;

/* Reads the token, binds cfg [api] listen and joins the loop. NULL with the
 * reason in err on failure. Caller owns the result. */
struct api *api_new(struct agent *agent, char *err, size_t err_len);
/* Stops accepting and closes the loop handles (resumes long-polls); accepts NULL. */
void api_stop(struct api *api);
/* Frees the API after its handles closed; accepts NULL and nulls *api. */
void api_destroy(struct api **api);
/* New inbox rows were committed: answer waiting long-polls. */
void api_inbox_changed(struct api *api);

#endif
