/* Per-source rate limiting of log lines, with a count of what was suppressed. */
#include "base/ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"

static unsigned slot_of(const char *source)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)source; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % RATELIMIT_SLOTS;
}

bool ratelimit_pass_at(struct ratelimit *rl, const char *source, uint64_t now_us, uint64_t *suppressed)
{
	if (!source || !*source)
		source = "-";
	struct ratelimit_slot *s = &rl->slot[slot_of(source)];

	*suppressed = 0;
	if (strncmp(s->source, source, sizeof(s->source) - 1) != 0) {
		/* another source hashed here: it takes the slot over, keeping the
		 * suppressed count so the next line still reports it */
		snprintf(s->source, sizeof(s->source), "%s", source);
	}
	if (now_us - s->window_start_us >= RATELIMIT_WINDOW_US || s->window_start_us == 0) {
		s->window_start_us = now_us ? now_us : 1;
		s->lines = 0;
	}
	if (s->lines >= RATELIMIT_BURST) {
		s->suppressed++;
		rl->suppressed_total++;
		return false;
	}
	s->lines++;
	*suppressed = s->suppressed;
	s->suppressed = 0;
	return true;
}

bool ratelimit_pass(struct ratelimit *rl, const char *source, uint64_t *suppressed)
{
	return ratelimit_pass_at(rl, source, clock_mono_us(), suppressed);
}
