/* output.h: p2pctl's output layer: sizes, rates, dates, tables, a progress bar, the daemon's answers as text or JSON. */
#ifndef P2P_OUTPUT_H
#define P2P_OUTPUT_H

#include <jansson.h>
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
void out_kv(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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

/* Field readers: a missing or mistyped field reads as 0 or def. */
long long out_jint(const json_t *o, const char *key);
double out_jnum(const json_t *o, const char *key);
const char *out_jstr(const json_t *o, const char *key, const char *def);
uint64_t out_jsize(const json_t *o, const char *key);

/* --json: v as one compact line, for jq. Returns -1 out of memory. */
int out_json(const json_t *v);

/* The daemon's answers in human form, on stdout. */
void out_status(const json_t *status);
/* p2pctl search: a header, then one line per result as it arrives. */
void out_search_header(void);
void out_search_row(const json_t *hit);
/* p2pctl dht: the node's id, table, lookups and traffic. */
void out_dht(const json_t *dht);
void out_torrent_line(const json_t *t);		/* "3 name: state" */
void out_torrent_info(const json_t *t);		/* torrent.get: "key value" lines */
void out_torrent_added(const json_t *t);
void out_share_done(const json_t *done);	/* share.done event params */
void out_verified(const json_t *t);		/* "3 name: 12/12 pieces good" */
/* Tables for torrent.list, torrent.files and torrent.peers; -1 out of memory. */
int out_torrent_table(const json_t *torrents);
int out_files_table(const json_t *files);
int out_peers_table(const json_t *peers);
int out_trackers_table(const json_t *trackers);
/* session.get: "key = value" lines, in the daemon's order. */
void out_settings(const json_t *settings);
/* One setting's value alone, for `config get` and `config set`. */
void out_setting_value(const json_t *v);

/* wait: what one torrent's line shows. */
struct wait_row {
	json_t *t;		/* torrent.get result */
	long long peers;	/* connections, from torrent.peers */
	uint64_t down_rate;	/* bytes/s, summed over the peers */
	uint64_t up_rate;
	int complete;		/* as wait counts it: seeding, or all pieces */
};
/*
 * The live display on a terminal (stdout): one line per row, each cut to
 * the terminal's width so that none wraps. up is the number of lines drawn
 * last time, which are overwritten; the cursor ends below the display.
 */
void out_wait_draw(const struct wait_row *rows, size_t n, int up);
/* Off a terminal: "3 name: downloading 42.5% of 1.0 GiB, ..." */
void out_wait_line(const struct wait_row *r);

/*
 * watch: one line per event. Events name torrents by id only, so names
 * maps ids to names: fill it from torrent.list; events keep it current.
 */
void out_names_add(json_t *names, const json_t *t);
void out_event(json_t *names, const json_t *params);

#endif
