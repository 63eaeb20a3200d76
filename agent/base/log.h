/*
 * Structured logging: one line per event, "key=value" fields after a short
 * message, to stderr in the foreground or syslog when asked. Never log keys,
 * plaintext bodies or whole ciphertexts.
 */
#ifndef LIMES_LOG_H
#define LIMES_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the lowest level printed and whether lines go to syslog. */
void log_init(const char *ident, enum log_level level, bool use_syslog);
void log_set_level(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs and exits with status 70; for start-up failures and broken invariants. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
