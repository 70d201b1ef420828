/* output.c: p2pctl's output layer: sizes, rates, dates, tables, a progress bar, the daemon's answers as text or JSON. */
#include "output.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KV_WIDTH	14	/* widest key ("download dir") plus a gap */
/* Widest text after the bar: "100%  1023.9 MiB / 1023.9 MiB  1023.9 MiB/s  ETA 23h 59m" */
#define BAR_TAIL	56

const char *
fmt_size(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = {
		"KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};
	double v;
	size_t u;

	if (bytes < 1024) {
		snprintf(out, n, "%llu B", (unsigned long long)bytes);
		return out;
	}
	v = (double)bytes / 1024;
	for (u = 0; v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]); u++)
		v /= 1024;
	/* 1023.96 KiB would print as "1024.0 KiB": move up a unit instead. */
	if (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, n, "%.1f %s", v, units[u]);
	return out;
}

const char *
fmt_rate(double bytes_per_sec, char *out, size_t n)
{
	char s[FMT_LEN - 8];

	if (bytes_per_sec < 0)
		bytes_per_sec = 0;
	fmt_size((uint64_t)bytes_per_sec, s, sizeof(s));
	snprintf(out, n, "%s/s", s);
	return out;
}

const char *
fmt_duration(uint64_t secs, char *out, size_t n)
{
	if (secs < 60)
		snprintf(out, n, "%llus", (unsigned long long)secs);
	else if (secs < 3600)
		snprintf(out, n, "%llum %02llus", (unsigned long long)secs / 60,
		    (unsigned long long)secs % 60);
	else if (secs < 86400)
		snprintf(out, n, "%lluh %02llum", (unsigned long long)secs / 3600,
		    (unsigned long long)secs % 3600 / 60);
	else
		snprintf(out, n, "%llud %02lluh", (unsigned long long)secs / 86400,
		    (unsigned long long)secs % 86400 / 3600);
	return out;
}

const char *
fmt_date(time_t t, char *out, size_t n)
{
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, n, "-");
	return out;
}

const char *
fmt_percent(double fraction, char *out, size_t n)
{
	unsigned long permille;

	if (!(fraction > 0))	/* also catches NaN */
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	/* Truncate: 99.99% must not show as 100.0% while a piece is missing. */
	permille = (unsigned long)(fraction * 1000);
	snprintf(out, n, "%lu.%lu%%", permille / 10, permille % 10);
	return out;
}

void
out_safe(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

void
out_kv(const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	printf("%-*s ", KV_WIDTH - 1, key);
	if (len < 0) {
		printf("?\n");
		return;
	}
	out_safe(stdout, s);
	putchar('\n');
	free(s);
}

struct table {
	size_t ncols;
	const char *const *headers;
	const char *align;
	char **cells;		/* nrows * ncols */
	size_t nrows;
	size_t cap;
};

/* Display width of UTF-8 text: count the bytes that start a character. */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

struct table *
table_new(const char *const *headers, const char *align)
{
	struct table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ncols = strlen(align);
	t->headers = headers;
	t->align = align;
	return t;
}

static char *
safe_dup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (d == NULL)
		return NULL;
	for (char *p = d; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

void
table_row(struct table *t, ...)
{
	va_list ap;
	char **p;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;

		if ((p = reallocarray(t->cells, ncap * t->ncols, sizeof(*p))) == NULL)
			return;
		t->cells = p;
		t->cap = ncap;
	}
	p = t->cells + t->nrows * t->ncols;
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++)
		p[i] = safe_dup(va_arg(ap, const char *));
	va_end(ap);
	t->nrows++;
}

static void
table_line(const struct table *t, const size_t *width, const char *const *cells,
    FILE *f)
{
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = cells[i] ? cells[i] : "?";
		size_t pad = width[i] - text_width(s);
		int last = i + 1 == t->ncols;

		if (t->align[i] == 'r')
			fprintf(f, "%*s%s", (int)pad, "", s);
		else
			fprintf(f, "%s%*s", s, last ? 0 : (int)pad, "");
		fputs(last ? "\n" : "  ", f);
	}
}

void
table_print(struct table *t, FILE *f)
{
	size_t *width;

	if ((width = calloc(t->ncols, sizeof(*width))) == NULL)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		width[i] = text_width(t->headers[i]);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t w = text_width(s ? s : "?");

			if (w > width[i])
				width[i] = w;
		}
	table_line(t, width, t->headers, f);
	for (size_t r = 0; r < t->nrows; r++)
		table_line(t, width,
		    (const char *const *)t->cells + r * t->ncols, f);
	free(width);
}

void
table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* One bar at a time, so its state is here rather than in every caller. */
static struct {
	int tty;
	char label[32];
	struct timespec t0;
	uint64_t done0;
	int have_t0;
} bar;
static volatile sig_atomic_t bar_shown;

static double
elapsed(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	    (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
term_width(int fd)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

void
progress_start(const char *label)
{
	bar.tty = isatty(STDERR_FILENO);
	snprintf(bar.label, sizeof(bar.label), "%s", label);
	bar.have_t0 = 0;
}

void
progress_update(uint64_t done, uint64_t total)
{
	char d[FMT_LEN], tot[FMT_LEN], rate[FMT_LEN], eta[FMT_LEN], tail[160];
	double frac, secs, bps = 0;
	int width, barw, fill;

	if (!bar.tty)
		return;
	if (!bar.have_t0) {
		/* The rate counts from the first report, not from 0 bytes. */
		clock_gettime(CLOCK_MONOTONIC, &bar.t0);
		bar.done0 = done;
		bar.have_t0 = 1;
	}
	frac = total ? (double)done / (double)total : 0;
	if (frac > 1)
		frac = 1;
	secs = elapsed(&bar.t0);
	if (secs >= 0.5 && done > bar.done0)
		bps = (double)(done - bar.done0) / secs;
	fmt_size(done, d, sizeof(d));
	fmt_size(total, tot, sizeof(tot));
	rate[0] = eta[0] = '\0';
	if (bps > 0) {
		fmt_rate(bps, rate, sizeof(rate));
		if ((double)(total - done) >= bps)
			fmt_duration((uint64_t)((double)(total - done) / bps), eta,
			    sizeof(eta));
	}
	snprintf(tail, sizeof(tail), " %3d%%  %s / %s%s%s%s%s",
	    (int)(frac * 100), d, tot, rate[0] ? "  " : "", rate,
	    eta[0] ? "  ETA " : "", eta);
	/*
	 * The bar keeps one width while the text after it changes length, so
	 * it does not jump; the last column is left free as some terminals
	 * wrap there.
	 */
	width = term_width(STDERR_FILENO) - 1;
	barw = width - (int)strlen(bar.label) - 3 - BAR_TAIL;
	if (barw > 40)
		barw = 40;
	fprintf(stderr, "\r%s ", bar.label);
	if (barw >= 5) {
		fill = (int)(frac * barw);
		fputc('[', stderr);
		for (int i = 0; i < barw; i++)
			fputc(i < fill ? '#' : '-', stderr);
		fputc(']', stderr);
	}
	fprintf(stderr, "%s\033[K", tail);
	fflush(stderr);
	bar_shown = 1;
}

void
progress_clear(void)
{
	if (!bar_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	bar_shown = 0;
}

int
progress_shown(void)
{
	return bar_shown;
}

/* ---- the daemon's answers in human form ---- */

long long
out_jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

double
out_jnum(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

const char *
out_jstr(const json_t *o, const char *key, const char *def)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : def;
}

uint64_t
out_jsize(const json_t *o, const char *key)
{
	long long v = out_jint(o, key);

	return v > 0 ? (uint64_t)v : 0;
}

int
out_json(const json_t *v)
{
	/* The flags of rpc_encode, so the line reads as p2pd wrote it. */
	char *s;

	s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	if (s == NULL)
		return -1;
	puts(s);
	free(s);
	fflush(stdout);
	return 0;
}

void
out_torrent_line(const json_t *t)
{
	printf("%lld ", out_jint(t, "id"));
	out_safe(stdout, out_jstr(t, "name", "?"));
	printf(": %s", out_jstr(t, "state", "?"));
	if (out_jstr(t, "error", NULL) != NULL) {
		fputs(": ", stdout);
		out_safe(stdout, out_jstr(t, "error", ""));
	}
	putchar('\n');
}

static void
kv_size(const char *key, uint64_t n)
{
	char s[FMT_LEN];

	out_kv(key, "%s (%llu bytes)", fmt_size(n, s, sizeof(s)),
	    (unsigned long long)n);
}

static void
kv_date(const char *key, long long t)
{
	char s[FMT_LEN];

	out_kv(key, "%s", fmt_date((time_t)t, s, sizeof(s)));
}

static void
kv_state(const json_t *t)
{
	const char *state = out_jstr(t, "state", "?");
	char pct[FMT_LEN];

	if (out_jstr(t, "error", NULL) != NULL)
		out_kv("state", "%s: %s", state, out_jstr(t, "error", ""));
	else if (strcmp(state, "checking") == 0)
		out_kv("state", "checking (%s done)",
		    fmt_percent(out_jnum(t, "check_progress"), pct, sizeof(pct)));
	else
		out_kv("state", "%s", state);
}

static void
kv_trackers(const json_t *t)
{
	json_t *tr;
	size_t i;

	json_array_foreach(json_object_get(t, "trackers"), i, tr)
		out_kv(i == 0 ? "trackers" : "", "[tier %lld] %s",
		    out_jint(tr, "tier"), out_jstr(tr, "url", "?"));
}

/* Size and pieces, which a magnet link lacks until its metadata arrives. */
static void
kv_pieces(const json_t *t)
{
	char a[FMT_LEN], b[FMT_LEN];

	if (out_jint(t, "pieces") == 0) {
		out_kv("size", "unknown: no metadata yet");
		return;
	}
	kv_size("size", out_jsize(t, "size"));
	out_kv("progress", "%s (%s)", fmt_percent(out_jnum(t, "progress"), a,
	    sizeof(a)), fmt_size(out_jsize(t, "have_bytes"), b, sizeof(b)));
	out_kv("pieces", "%lld/%lld", out_jint(t, "pieces_have"),
	    out_jint(t, "pieces"));
	out_kv("piece size", "%s", fmt_size(out_jsize(t, "piece_length"), a,
	    sizeof(a)));
	out_kv("files", "%lld", out_jint(t, "files"));
}

void
out_torrent_info(const json_t *t)
{
	char a[FMT_LEN];

	out_kv("id", "%lld", out_jint(t, "id"));
	out_kv("name", "%s", out_jstr(t, "name", "?"));
	out_kv("info hash", "%s", out_jstr(t, "info_hash", "?"));
	kv_state(t);
	kv_pieces(t);
	out_kv("private", "%s", json_is_true(json_object_get(t, "private")) ?
	    "yes" : "no");
	out_kv("origin", "%s", out_jstr(t, "origin", "?"));
	out_kv("path", "%s", out_jstr(t, "path", "?"));
	kv_date("added", out_jint(t, "added"));
	kv_date("completed", out_jint(t, "completed"));
	out_kv("uploaded", "%s", fmt_size(out_jsize(t, "uploaded"), a, sizeof(a)));
	out_kv("downloaded", "%s", fmt_size(out_jsize(t, "downloaded"), a,
	    sizeof(a)));
	if (out_jstr(t, "comment", NULL) != NULL)
		out_kv("comment", "%s", out_jstr(t, "comment", ""));
	if (out_jstr(t, "created_by", NULL) != NULL)
		out_kv("created by", "%s", out_jstr(t, "created_by", ""));
	if (out_jint(t, "creation_date") != 0)
		kv_date("created", out_jint(t, "creation_date"));
	if (out_jstr(t, "magnet", NULL) != NULL)
		out_kv("magnet", "%s", out_jstr(t, "magnet", ""));
	kv_trackers(t);
}

void
out_torrent_added(const json_t *t)
{
	out_kv("id", "%lld", out_jint(t, "id"));
	out_kv("info hash", "%s", out_jstr(t, "info_hash", "?"));
	out_kv("name", "%s", out_jstr(t, "name", "?"));
	kv_state(t);
	out_kv("path", "%s", out_jstr(t, "path", "?"));
}

void
out_share_done(const json_t *done)
{
	json_t *t = json_object_get(done, "torrent");
	char s[FMT_LEN];

	out_kv("info hash", "%s", out_jstr(t, "info_hash", "?"));
	out_kv("name", "%s", out_jstr(t, "name", "?"));
	kv_size("size", out_jsize(t, "size"));
	out_kv("pieces", "%lld x %s", out_jint(t, "pieces"),
	    fmt_size(out_jsize(t, "piece_length"), s, sizeof(s)));
	out_kv("id", "%lld", out_jint(t, "id"));
	out_kv("path", "%s", out_jstr(t, "path", "?"));
	out_kv("magnet", "%s", out_jstr(done, "magnet",
	    out_jstr(t, "magnet", "?")));
}

void
out_verified(const json_t *t)
{
	printf("%lld ", out_jint(t, "id"));
	out_safe(stdout, out_jstr(t, "name", "?"));
	printf(": %lld/%lld pieces good, %s\n", out_jint(t, "pieces_have"),
	    out_jint(t, "pieces"), out_jstr(t, "state", "?"));
}

static const char *const state_names[] = {
	"checking", "downloading", "seeding", "paused", "error",
};

/* "0.0.0.0:6881, [::]:6881" */
static void
kv_listen(const json_t *st)
{
	json_t *v;
	size_t i;

	printf("%-*s ", KV_WIDTH - 1, "listen");
	json_array_foreach(json_object_get(st, "listen"), i, v) {
		fputs(i ? ", " : "", stdout);
		out_safe(stdout, json_is_string(v) ? json_string_value(v) : "?");
	}
	puts(json_array_size(json_object_get(st, "listen")) ? "" : "none");
}

/* "3 (1 downloading, 2 seeding)" */
static void
kv_counts(const json_t *st)
{
	json_t *counts = json_object_get(st, "torrents");
	size_t i, n = 0;

	printf("%-*s %lld", KV_WIDTH - 1, "torrents", out_jint(counts, "total"));
	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (out_jint(counts, state_names[i]) != 0)
			printf("%s%lld %s", n++ ? ", " : " (",
			    out_jint(counts, state_names[i]), state_names[i]);
	puts(n > 0 ? ")" : "");
}

static void kv_dht(const json_t *dht);
static void kv_lsd(const json_t *lsd);

void
out_status(const json_t *st)
{
	char d[FMT_LEN], u[FMT_LEN];

	out_kv("version", "p2pd %s (API %lld)", out_jstr(st, "version", "?"),
	    out_jint(st, "api_version"));
	out_kv("pid", "%lld", out_jint(st, "pid"));
	out_kv("uptime", "%s", fmt_duration(out_jsize(st, "uptime"), d, sizeof(d)));
	out_kv("socket", "%s", out_jstr(st, "socket", "?"));
	out_kv("config file", "%s", out_jstr(st, "config_file", "none"));
	out_kv("state dir", "%s", out_jstr(st, "state_dir", "?"));
	out_kv("download dir", "%s", out_jstr(st, "download_dir", "?"));
	kv_listen(st);
	out_kv("workers", "%lld", out_jint(st, "workers"));
	out_kv("clients", "%lld", out_jint(st, "clients"));
	kv_counts(st);
	out_kv("peers", "%lld", out_jint(st, "peers"));
	out_kv("rates", "down %s, up %s",
	    fmt_rate((double)out_jsize(st, "down_rate"), d, sizeof(d)),
	    fmt_rate((double)out_jsize(st, "up_rate"), u, sizeof(u)));
	out_kv("banned", "%lld", out_jint(st, "banned"));
	kv_lsd(json_object_get(st, "lsd"));
	kv_dht(json_object_get(st, "dht"));
}

static void
kv_lsd(const json_t *lsd)
{
	if (!json_is_true(json_object_get(lsd, "enabled"))) {
		out_kv("lsd", "off%s%s", out_jstr(lsd, "last_error", NULL) ? ": " : "",
		    out_jstr(lsd, "last_error", ""));
		return;
	}
	out_kv("lsd", "%lld announces sent, %lld heard, %lld peers found",
	    out_jint(lsd, "announces_sent"), out_jint(lsd, "announces_received"),
	    out_jint(lsd, "peers_found"));
}

/* --- search --- */

void
out_search_header(void)
{
	printf("%4s  %7s  %9s  %-8s  %s\n", "#", "SOURCES", "SIZE", "HASH", "NAME");
}

/* Fixed columns: rows print as results arrive, before the widest is known. */
void
out_search_row(const json_t *hit)
{
	char size[FMT_LEN], src[16], hash[9];
	const char *origin = out_jstr(hit, "origin", "network");

	fmt_size(out_jsize(hit, "size"), size, sizeof(size));
	if (strcmp(origin, "local") == 0)
		snprintf(src, sizeof(src), "local");
	else
		snprintf(src, sizeof(src), "%lld", out_jint(hit, "sources"));
	snprintf(hash, sizeof(hash), "%s", out_jstr(hit, "info_hash", "?"));
	printf("%4lld  %7s  %9s  %-8s  ", out_jint(hit, "number"), src, size, hash);
	out_safe(stdout, out_jstr(hit, "name", "?"));
	putchar('\n');
}

/* --- the DHT --- */

static void
kv_dht(const json_t *dht)
{
	if (!json_is_true(json_object_get(dht, "enabled"))) {
		out_kv("dht", "off%s%s", out_jstr(dht, "error", NULL) ? ": " : "",
		    out_jstr(dht, "error", ""));
		return;
	}
	out_kv("dht", "%lld nodes, %lld good", out_jint(dht, "nodes"), out_jint(dht, "good"));
}

void
out_dht(const json_t *d)
{
	const json_t *n = json_object_get(d, "nodes"), *g = json_object_get(d, "good");
	const json_t *st = json_object_get(d, "stored"), *t = json_object_get(d, "traffic");
	const json_t *l = json_object_get(d, "listen"), *a;
	char in[FMT_LEN], out[FMT_LEN];
	size_t i;

	if (!json_is_true(json_object_get(d, "enabled"))) {
		kv_dht(d);
		return;
	}
	out_kv("node id", "%s", out_jstr(d, "node_id", "?"));
	json_array_foreach(l, i, a)
		out_kv(i == 0 ? "listen" : "", "udp %s", json_string_value(a));
	out_kv("nodes", "%lld IPv4 (%lld good), %lld IPv6 (%lld good)", out_jint(n, "ipv4"),
	    out_jint(g, "ipv4"), out_jint(n, "ipv6"), out_jint(g, "ipv6"));
	out_kv("lookups", "%lld running, %lld since start", out_jint(d, "lookups_running"),
	    out_jint(d, "lookups"));
	out_kv("stored", "%lld peers for %lld info-hashes", out_jint(st, "peers"),
	    out_jint(st, "info_hashes"));
	out_kv("packets", "%lld in (%s), %lld out (%s)", out_jint(t, "packets_in"),
	    fmt_size(out_jsize(t, "bytes_in"), in, sizeof(in)), out_jint(t, "packets_out"),
	    fmt_size(out_jsize(t, "bytes_out"), out, sizeof(out)));
	out_kv("queries", "%lld in, %lld out; %lld replies, %lld errors, %lld timeouts",
	    out_jint(t, "queries_in"), out_jint(t, "queries_out"), out_jint(t, "replies_in"),
	    out_jint(t, "errors_in"), out_jint(t, "timeouts"));
	out_kv("dropped", "%lld malformed, %lld over the rate limit", out_jint(t, "malformed"),
	    out_jint(t, "rate_limited"));
	out_kv("peers found", "%lld", out_jint(t, "peers_found"));
}

int
out_torrent_table(const json_t *torrents)
{
	static const char *const hdr[] = {
		"ID", "STATE", "PROGRESS", "SIZE", "HASH", "NAME",
	};
	char id[24], pct[FMT_LEN], size[FMT_LEN], hash[9];
	struct table *tab;
	json_t *t;
	size_t i;

	if ((tab = table_new(hdr, "rlrrll")) == NULL)
		return -1;
	json_array_foreach(torrents, i, t) {
		snprintf(id, sizeof(id), "%lld", out_jint(t, "id"));
		snprintf(hash, sizeof(hash), "%s", out_jstr(t, "info_hash", "?"));
		if (out_jint(t, "pieces") == 0)
			snprintf(size, sizeof(size), "-");	/* no metadata yet */
		else
			fmt_size(out_jsize(t, "size"), size, sizeof(size));
		table_row(tab, id, out_jstr(t, "state", "?"),
		    fmt_percent(out_jnum(t, "progress"), pct, sizeof(pct)), size,
		    hash, out_jstr(t, "name", "?"));
	}
	table_print(tab, stdout);
	table_free(tab);
	return 0;
}

int
out_files_table(const json_t *files)
{
	static const char *const hdr[] = { "INDEX", "SIZE", "PROGRESS", "PATH" };
	char idx[24], size[FMT_LEN], pct[FMT_LEN];
	struct table *tab;
	json_t *f;
	size_t i;

	if ((tab = table_new(hdr, "rrrl")) == NULL)
		return -1;
	json_array_foreach(files, i, f) {
		snprintf(idx, sizeof(idx), "%lld", out_jint(f, "index"));
		table_row(tab, idx,
		    fmt_size(out_jsize(f, "size"), size, sizeof(size)),
		    fmt_percent(out_jnum(f, "progress"), pct, sizeof(pct)),
		    out_jstr(f, "path", "?"));
	}
	table_print(tab, stdout);
	table_free(tab);
	return 0;
}

int
out_peers_table(const json_t *peers)
{
	static const char *const hdr[] = {
		"ADDRESS", "CLIENT", "DIR", "FLAGS", "DOWN", "UP", "PROGRESS",
		"DOWNLOADED", "UPLOADED",
	};
	char down[FMT_LEN], up[FMT_LEN], pct[FMT_LEN], dl[FMT_LEN], ul[FMT_LEN];
	struct table *tab;
	json_t *p;
	size_t i;

	if ((tab = table_new(hdr, "llllrrrrr")) == NULL)
		return -1;
	json_array_foreach(peers, i, p)
		table_row(tab, out_jstr(p, "address", "?"),
		    out_jstr(p, "client", "?"), out_jstr(p, "direction", "?"),
		    out_jstr(p, "flags", ""),
		    fmt_rate((double)out_jsize(p, "down_rate"), down, sizeof(down)),
		    fmt_rate((double)out_jsize(p, "up_rate"), up, sizeof(up)),
		    fmt_percent(out_jnum(p, "progress"), pct, sizeof(pct)),
		    fmt_size(out_jsize(p, "downloaded"), dl, sizeof(dl)),
		    fmt_size(out_jsize(p, "uploaded"), ul, sizeof(ul)));
	table_print(tab, stdout);
	table_free(tab);
	return 0;
}

/* A tracker's count, or "-" when it did not say. */
static void
count_cell(const json_t *t, const char *key, char *out, size_t n)
{
	if (json_is_integer(json_object_get(t, key)))
		snprintf(out, n, "%lld", (long long)out_jsize(t, key));
	else
		snprintf(out, n, "-");
}

int
out_trackers_table(const json_t *trackers)
{
	static const char *const hdr[] = {
		"TIER", "STATUS", "SEEDS", "LEECHES", "DONE", "NEXT", "URL", "LAST ERROR",
	};
	char tier[16], seeds[24], leeches[24], done[24], next[FMT_LEN], err[300];
	struct table *tab;
	json_t *t;
	size_t i;

	if ((tab = table_new(hdr, "rlrrrrll")) == NULL)
		return -1;
	json_array_foreach(trackers, i, t) {
		const char *le = out_jstr(t, "last_error", NULL);
		const char *se = out_jstr(t, "scrape_error", NULL);

		snprintf(tier, sizeof(tier), "%lld", (long long)out_jsize(t, "tier"));
		count_cell(t, "seeders", seeds, sizeof(seeds));
		count_cell(t, "leechers", leeches, sizeof(leeches));
		count_cell(t, "downloaded", done, sizeof(done));
		/* Standby trackers and stopped torrents have no announce of their own due. */
		if (json_object_get(t, "next_announce") &&
		    (json_is_true(json_object_get(t, "active")) || le))
			snprintf(next, sizeof(next), "%llds", (long long)out_jsize(t, "next_announce"));
		else
			snprintf(next, sizeof(next), "-");
		/* An announce error matters more than a scrape error. */
		if (le)
			snprintf(err, sizeof(err), "%s", le);
		else if (se)
			snprintf(err, sizeof(err), "scrape: %s", se);
		else
			err[0] = '\0';
		table_row(tab, tier, out_jstr(t, "status", "?"), seeds, leeches, done, next,
		    out_jstr(t, "url", "?"), err);
	}
	table_print(tab, stdout);
	table_free(tab);
	return 0;
}

/* ---- config: session settings ---- */

void
out_setting_value(const json_t *v)
{
	char *s;

	if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		out_safe(stdout, json_string_value(v));
	else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		/* A newer p2pd's kind of value: show it as it came. */
		out_safe(stdout, s);
		free(s);
	} else
		putchar('?');
	putchar('\n');
}

void
out_settings(const json_t *settings)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)settings, key, v) {
		out_safe(stdout, key);
		fputs(" = ", stdout);
		out_setting_value(v);
	}
}

/* ---- wait: one line per torrent ---- */

/* "3 name", made safe, for the first column. */
static void
wait_label(const struct wait_row *r, char *out, size_t n)
{
	snprintf(out, n, "%lld %s", out_jint(r->t, "id"),
	    out_jstr(r->t, "name", "?"));
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Percent done; a magnet without metadata has no size to count against. */
static const char *
wait_percent(const struct wait_row *r, char *out, size_t n)
{
	if (out_jint(r->t, "pieces") == 0)
		snprintf(out, n, "-");
	else
		fmt_percent(out_jnum(r->t, "progress"), out, n);
	return out;
}

/* What comes last on a line: the ETA while downloading, else the state. */
static void
wait_status(const struct wait_row *r, char *out, size_t n)
{
	const char *state = out_jstr(r->t, "state", "?");
	uint64_t size = out_jsize(r->t, "size");
	uint64_t have = out_jsize(r->t, "have_bytes");
	char s[FMT_LEN];

	if (r->complete)
		snprintf(out, n, "complete");
	else if (strcmp(state, "checking") == 0)
		snprintf(out, n, "checking %s", fmt_percent(out_jnum(r->t,
		    "check_progress"), s, sizeof(s)));
	else if (strcmp(state, "downloading") != 0)
		snprintf(out, n, "%s", state);
	else if (r->down_rate > 0 && size > have)
		snprintf(out, n, "ETA %s", fmt_duration((size - have) /
		    r->down_rate, s, sizeof(s)));
	else
		snprintf(out, n, "%s", r->peers == 0 ? "no peers" : "stalled");
}

/* "down 1.2 MiB/s  up 0 B/s  3 peers  ETA 1m 20s" */
static void
wait_tail(const struct wait_row *r, char *out, size_t n)
{
	char down[FMT_LEN], up[FMT_LEN], status[FMT_LEN + 16];

	wait_status(r, status, sizeof(status));
	snprintf(out, n, "down %s  up %s  %lld peer%s  %s",
	    fmt_rate((double)r->down_rate, down, sizeof(down)),
	    fmt_rate((double)r->up_rate, up, sizeof(up)), r->peers,
	    r->peers == 1 ? "" : "s", status);
}

/*
 * Writes at most w display columns of s, padded with spaces to w when pad
 * is set; a cut name ends in '~' so that it does not pass for whole.
 */
static void
put_fit(const char *s, size_t w, int pad)
{
	size_t cols = text_width(s), i, col = 0;

	if (cols <= w) {
		fputs(s, stdout);
		for (; pad && cols < w; cols++)
			putchar(' ');
		return;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && ++col == w)
			break;
		putchar(s[i]);
	}
	if (w > 0)
		putchar('~');
}

/* Column widths of the display: the bar takes what the text leaves. */
struct wait_cols {
	size_t name, bar, tail;
};

#define WAIT_BAR_MAX	30
#define WAIT_BAR_MIN	10
#define WAIT_NAME_MIN	12
#define WAIT_PCT	6	/* "100.0%" */

static void
wait_layout(const struct wait_row *rows, size_t n, size_t width,
    struct wait_cols *wc)
{
	/*
	 * The widest tail so far: the columns keep their place while rates
	 * grow and shrink, so the bars do not jump about.
	 */
	static size_t tail_max;
	char s[1024];
	size_t fixed, need;

	wc->name = 0;
	wc->tail = tail_max;
	for (size_t i = 0; i < n; i++) {
		wait_label(&rows[i], s, sizeof(s));
		if (text_width(s) > wc->name)
			wc->name = text_width(s);
		wait_tail(&rows[i], s, sizeof(s));
		if (strlen(s) > wc->tail)
			wc->tail = strlen(s);
	}
	tail_max = wc->tail;
	/* name, " 42.5% [", bar, "]  ", tail */
	fixed = 1 + WAIT_PCT + 2 + 3 + wc->tail;
	need = wc->name + fixed + WAIT_BAR_MIN;
	if (need > width && wc->name > WAIT_NAME_MIN)
		wc->name = need - width >= wc->name - WAIT_NAME_MIN ?
		    WAIT_NAME_MIN : wc->name - (need - width);
	wc->bar = width > wc->name + fixed ? width - wc->name - fixed : 0;
	if (wc->bar > WAIT_BAR_MAX)
		wc->bar = WAIT_BAR_MAX;
	if (wc->bar < WAIT_BAR_MIN)
		wc->bar = 0;
}

/* One line of the display, cut at width columns. */
static void
wait_draw_row(const struct wait_row *r, const struct wait_cols *wc,
    size_t width)
{
	char label[1024], line[1024], pct[FMT_LEN], tail[512], meter[WAIT_BAR_MAX + 1];
	double frac = out_jnum(r->t, "progress");
	size_t fill = frac > 0 && frac <= 1 ? (size_t)(frac * (double)wc->bar) :
	    frac > 1 ? wc->bar : 0;

	wait_label(r, label, sizeof(label));
	wait_tail(r, tail, sizeof(tail));
	for (size_t i = 0; i < wc->bar; i++)
		meter[i] = i < fill ? '#' : '-';
	meter[wc->bar] = '\0';
	snprintf(line, sizeof(line), " %*s %s%s%s%s", WAIT_PCT,
	    wait_percent(r, pct, sizeof(pct)), wc->bar ? "[" : "", meter,
	    wc->bar ? "]  " : " ", tail);
	fputs("\r", stdout);
	put_fit(label, width < wc->name ? width : wc->name, 1);
	if (width > wc->name)
		put_fit(line, width - wc->name, 0);
	fputs("\033[K\n", stdout);
}

void
out_wait_draw(const struct wait_row *rows, size_t n, int up)
{
	/* The last column stays free: some terminals wrap when it is written. */
	size_t width = (size_t)term_width(STDOUT_FILENO) - 1;
	struct wait_cols wc;

	wait_layout(rows, n, width, &wc);
	if (up > 0)
		printf("\033[%dA", up);
	for (size_t i = 0; i < n; i++)
		wait_draw_row(&rows[i], &wc, width);
	fflush(stdout);
}

void
out_wait_line(const struct wait_row *r)
{
	char label[1024], pct[FMT_LEN], size[FMT_LEN], down[FMT_LEN], up[FMT_LEN];
	char status[FMT_LEN + 16];
	const char *state = out_jstr(r->t, "state", "?");

	wait_label(r, label, sizeof(label));
	fmt_size(out_jsize(r->t, "size"), size, sizeof(size));
	if (r->complete) {
		printf("%s: complete, %s\n", label, size);
		return;
	}
	fmt_rate((double)r->down_rate, down, sizeof(down));
	fmt_rate((double)r->up_rate, up, sizeof(up));
	printf("%s: %s %s of %s, down %s, up %s, %lld peer%s", label,
	    state, wait_percent(r, pct, sizeof(pct)), size, down, up,
	    r->peers, r->peers == 1 ? "" : "s");
	/* Any other state already says all; downloading adds the ETA. */
	if (strcmp(state, "downloading") == 0) {
		wait_status(r, status, sizeof(status));
		printf(", %s", status);
	}
	putchar('\n');
}

/* ---- watch: one line per event ---- */

void
out_names_add(json_t *names, const json_t *t)
{
	char key[24];

	if (t == NULL || json_object_get(t, "id") == NULL)
		return;
	snprintf(key, sizeof(key), "%lld", out_jint(t, "id"));
	json_object_set_new(names, key, json_string(out_jstr(t, "name", "?")));
}

/* "3 name" */
static void
ev_torrent(json_t *names, long long id)
{
	char key[24];

	snprintf(key, sizeof(key), "%lld", id);
	printf("%lld ", id);
	out_safe(stdout, out_jstr(names, key, "?"));
}

static void
ev_progress(json_t *names, const json_t *p)
{
	char pct[FMT_LEN], tot[FMT_LEN];
	uint64_t total = out_jsize(p, "total");

	if (json_object_get(p, "job") != NULL) {
		printf("job %lld", out_jint(p, "job"));
		if (out_jstr(p, "path", NULL) != NULL) {
			putchar(' ');
			out_safe(stdout, out_jstr(p, "path", ""));
		}
	} else
		ev_torrent(names, out_jint(p, "id"));
	printf(": %s of %s", fmt_percent(total ? (double)out_jsize(p, "done") /
	    (double)total : 0, pct, sizeof(pct)),
	    fmt_size(total, tot, sizeof(tot)));
}

static void
ev_state(json_t *names, const json_t *p)
{
	ev_torrent(names, out_jint(p, "id"));
	printf(": %s -> %s", out_jstr(p, "from", "?"), out_jstr(p, "to", "?"));
	if (out_jstr(p, "error", NULL) != NULL) {
		fputs(": ", stdout);
		out_safe(stdout, out_jstr(p, "error", ""));
	}
}

/* "127.0.0.2:6881, [::1]:6881": a few addresses, then how many more. */
static void
ev_addresses(const json_t *p)
{
	json_t *peers = json_object_get(p, "peers"), *v;
	size_t i, n = json_array_size(peers);

	json_array_foreach(peers, i, v) {
		if (i == 4) {
			printf(" and %zu more", n - i);
			break;
		}
		fputs(i ? ", " : "", stdout);
		out_safe(stdout, json_is_string(v) ? json_string_value(v) : "?");
	}
}

static void
ev_piece(json_t *names, const char *type, const json_t *p)
{
	int ok = strcmp(type, "piece.verified") == 0;
	size_t n = json_array_size(json_object_get(p, "peers"));

	ev_torrent(names, out_jint(p, "id"));
	printf(": piece %lld %s", out_jint(p, "piece"),
	    ok ? "verified" : "failed the hash check");
	if (n > 0) {
		fputs(ok ? " (from " : " (blamed: ", stdout);
		ev_addresses(p);
		putchar(')');
	}
}

/* The transfer events; 0 if type is none of them. */
static int
ev_transfer(json_t *names, const char *type, const json_t *p)
{
	if (strcmp(type, "piece.verified") == 0 ||
	    strcmp(type, "piece.failed") == 0)
		ev_piece(names, type, p);
	else if (strcmp(type, "torrent.completed") == 0) {
		out_names_add(names, p);
		ev_torrent(names, out_jint(p, "id"));
		fputs(": complete", stdout);
	} else if (strcmp(type, "peer.banned") == 0) {
		ev_torrent(names, out_jint(p, "id"));
		fputs(": banned ", stdout);
		out_safe(stdout, out_jstr(p, "address", "?"));
		if (out_jstr(p, "reason", NULL) != NULL) {
			fputs(": ", stdout);
			out_safe(stdout, out_jstr(p, "reason", ""));
		}
	} else
		return 0;
	return 1;
}

static void
ev_details(json_t *names, const char *type, const json_t *p)
{
	json_t *t = json_object_get(p, "torrent");
	char *s;

	if (strcmp(type, "torrent.added") == 0) {
		out_names_add(names, t);
		ev_torrent(names, out_jint(t, "id"));
		printf(" (%s)", out_jstr(t, "state", "?"));
	} else if (strcmp(type, "torrent.removed") == 0)
		ev_torrent(names, out_jint(p, "id"));
	else if (strcmp(type, "torrent.state") == 0)
		ev_state(names, p);
	else if (strcmp(type, "hash.progress") == 0)
		ev_progress(names, p);
	else if (strcmp(type, "share.done") == 0) {
		out_names_add(names, t);
		printf("job %lld: ", out_jint(p, "job"));
		ev_torrent(names, out_jint(t, "id"));
	} else if (strcmp(type, "share.failed") == 0) {
		printf("job %lld: ", out_jint(p, "job"));
		out_safe(stdout, out_jstr(p, "error", "?"));
	} else if (!ev_transfer(names, type, p) &&
	    (s = json_dumps(p, JSON_COMPACT)) != NULL) {
		/* A newer p2pd's event: show it whole rather than hide it. */
		out_safe(stdout, s);
		free(s);
	}
}

void
out_event(json_t *names, const json_t *p)
{
	const char *type = out_jstr(p, "type", "?");
	time_t t = (time_t)out_jint(p, "time");
	char when[16];
	struct tm tm;

	if (t == 0)
		t = time(NULL);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "?");
	/* Wide enough for "torrent.completed", so the details line up. */
	printf("%s  %-17s ", when, type);
	ev_details(names, type, p);
	putchar('\n');
}
