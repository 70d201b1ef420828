/* output.h: p2pctl's human output: sizes, rates, durations, dates, tables, a progress bar. */
#ifndef P2P_OUTPUT_H
#define P2P_OUTPUT_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define FMT_LEN 48	/* room for any fmt_* result */

/* "0 B", "512 B", "1.5 KiB", "12.0 GiB": IEC units, one decimal. */
const char *fmt_size(uint64_t bytes, char *out, size_t n);
/* fmt_size plus "/s". */
const char *fmt_rate(double bytes_per_sec, char *out, size_t n);
/* "45s", "3m 20s", "2h 05m", "4d 03h". */
const char *fmt_duration(uint64_t secs, char *out, size_t n);
/* Local "2026-11-26 13:55:09", or "-" for 0. */
const char *fmt_date(time_t t, char *out, size_t n);
/* Progress 0..1 as "42.5%", rounded down so that 100% means complete. */
const char *fmt_percent(double fraction, char *out, size_t n);

/*
 * Writes s with control characters replaced by '?': torrent names and paths
 * come from strangers' .torrent files and must not drive the terminal.
 */
void out_safe(FILE *f, const char *s);
/* "key          value" with the key column aligned; value printed safely. */
void out_kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aligned columns; the last column is never padded. */
struct table;
/* align: one 'l' or 'r' per column, e.g. "rllr". */
struct table *table_new(const char *const *headers, const char *align);
/* Adds one row: as many strings as columns (copied, made safe). */
void table_row(struct table *t, ...);
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/*
 * One progress bar on stderr, redrawn in place. When stderr is not a
 * terminal all of these do nothing, so scripts and logs see no noise.
 */
void progress_start(const char *label);
void progress_update(uint64_t done, uint64_t total);
/* Removes the bar so the next message starts on a clean line. */
void progress_clear(void);
/* Whether a bar is on screen now; safe to call from a signal handler. */
int progress_shown(void);

#endif
