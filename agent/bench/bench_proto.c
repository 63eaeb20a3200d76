/*
 * What the bench asks an agent about the protocol it ran: the sender's
 * envelope signature counter (GET /metrics) and the envelope version its
 * link agreed on (GET /v1/peers). Each call makes its own short-lived client.
 */
#include "bench.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "httpc/httpc.h"

/* GET path with the agent's token into a; 0 when the answer is 200. */
static int get(struct bench_agent *ag, const char *path, struct httpc_answer *a)
{
	struct httpc *h = httpc_new("127.0.0.1", ag->api_port, ag->token, 1);
	int rc = -1;

	memset(a, 0, sizeof(*a));
	if (h && httpc_request(h, "GET", path, NULL, 0, 5000, a) == 0 && a->status == 200)
		rc = 0;
	httpc_destroy(&h);
	return rc;
}

double bench_agents_metric(struct bench_agent *ag, const char *series)
{
	struct httpc_answer a;
	double v = NAN;
	size_t n = strlen(series);

	if (get(ag, "/metrics", &a) == 0 && a.body) {
		/* "<series> <value>\n" at the start of a line */
		for (const char *line = a.body; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
			if (strncmp(line, series, n) == 0 && line[n] == ' ') {
				v = strtod(line + n + 1, NULL);
				break;
			}
	}
	httpc_answer_clear(&a);
	return v;
}

double bench_agents_protocol(struct bench_agent *ag)
{
	struct httpc_answer a;
	double v = NAN;

	if (get(ag, "/v1/peers", &a) == 0) {
		json_t *doc = json_loadb(a.body, a.len, 0, NULL);
		json_t *p = json_array_get(json_object_get(doc, "peers"), 0);
		json_t *proto = json_object_get(p, "protocol");
		if (json_is_integer(proto))
			v = (double)json_integer_value(proto);
		json_decref(doc);
	}
	httpc_answer_clear(&a);
	return v;
}
