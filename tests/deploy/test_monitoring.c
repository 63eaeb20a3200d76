/*
 * deploy/prometheus/: every metric the alert rules and the Grafana
 * dashboard use is one a running agent exports (so a renamed metric breaks
 * this test, not an operator's alerting months later), and the dashboard is
 * a well-formed Grafana document whose panels all query something.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

TestSuite(monitoring, .timeout = 120);

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	cr_assert(ne(ptr, f, NULL), "cannot open %s", path);
	cr_assert(eq(int, fseek(f, 0, SEEK_END), 0));
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	cr_assert(ne(ptr, buf, NULL));
	cr_assert(eq(sz, fread(buf, 1, (size_t)n, f), (size_t)n));
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Checks each distinct limes_* name in text against the /metrics text; returns how many it checked. */
static int check_names(const char *what, const char *text, const char *metrics)
{
	int checked = 0;
	for (const char *p = text; (p = strstr(p, "limes_")) != NULL;) {
		bool starts = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		if (starts) {
			char name[128], type_line[160];
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			snprintf(type_line, sizeof(type_line), "# TYPE %s ", name);
			if (!strstr(metrics, type_line)) {
				/* a histogram's series are its name with a suffix */
				static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
				for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
					size_t sl = strlen(suffixes[i]);
					if (n > sl && strcmp(name + n - sl, suffixes[i]) == 0) {
						snprintf(type_line, sizeof(type_line), "# TYPE %.*s histogram", (int)(n - sl), name);
						break;
					}
				}
			}
			cr_assert(ne(ptr, strstr(metrics, type_line), NULL), "%s uses %s, which the agent does not export", what, name);
			checked++;
		}
		p += n;
	}
	return checked;
}

Test(monitoring, rules_and_dashboard_use_only_metrics_the_agent_exports)
{
	static const char *const ids[] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE" };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { ids[0], ids[1], "alert", NULL }, { ids[1], ids[0], "alert", NULL } };
	cluster_configure(c, l, 2, NULL);
	cluster_start(c, ids[0]);
	cluster_start(c, ids[1]);
	cr_assert(eq(int, cluster_wait_up(c, ids[0], ids[1], 10000), 1));
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, ids[0], ids[1], "alert", "normal", 1, id), 202));
	cluster_sleep_ms(1500); /* a heartbeat or two: RTT and clock offset */

	char *metrics = NULL;
	cr_assert(eq(long, agentproc_http(cluster_ap(c, ids[0]), "GET", "/metrics", NULL, 0, NULL, &metrics), 200));
	char *rules = slurp(LIMES_SOURCE_DIR "/deploy/prometheus/limes.rules.yml");
	char *dashboard = slurp(LIMES_SOURCE_DIR "/deploy/prometheus/grafana-dashboard.json");
	cr_assert(ge(int, check_names("limes.rules.yml", rules, metrics), 10));
	cr_assert(ge(int, check_names("grafana-dashboard.json", dashboard, metrics), 15));

	json_error_t jerr;
	json_t *doc = json_loads(dashboard, 0, &jerr);
	cr_assert(ne(ptr, doc, NULL), "grafana-dashboard.json: line %d: %s", jerr.line, jerr.text);
	json_t *panels = json_object_get(doc, "panels");
	cr_assert(lt(sz, 5, json_array_size(panels)));
	size_t i, queries = 0;
	json_t *panel;
	json_array_foreach(panels, i, panel) {
		const char *type = json_string_value(json_object_get(panel, "type"));
		cr_assert(ne(ptr, (void *)type, NULL), "panel %zu has no type", i);
		if (strcmp(type, "row") == 0)
			continue;
		json_t *targets = json_object_get(panel, "targets");
		cr_assert(lt(sz, 0, json_array_size(targets)), "panel %zu has no query", i);
		size_t j;
		json_t *t;
		json_array_foreach(targets, j, t) {
			const char *expr = json_string_value(json_object_get(t, "expr"));
			cr_assert(eq(int, expr && strstr(expr, "limes_"), 1), "panel %zu query %zu: %s", i, j, expr ? expr : "none");
			queries++;
		}
	}
	cr_assert(ge(sz, queries, 15));
	json_decref(doc);
	free(rules);
	free(dashboard);
	free(metrics);
	cluster_destroy(&c);
}
