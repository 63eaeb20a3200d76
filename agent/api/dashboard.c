/*
 * GET /: the operators' console, one self-contained page (inline CSS, JS
 * and SVG charts; no external resources). Its source is
 * agent/api/console.html, embedded at build time by cmake/embed.cmake.
 * Served without a token: the page holds no data itself; it signs in with
 * the API token and reads the same endpoints as any client.
 */
#include "api_int.h"

/* build/gen/api/console_page.c */
extern const unsigned char console_page[];
extern const size_t console_page_len;

const char *dashboard_page(size_t *len)
{
	*len = console_page_len;
	return (const char *)console_page;
}
