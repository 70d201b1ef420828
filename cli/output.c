/* output.c: p2pctl's human output: sizes, rates, durations, dates, tables, a progress bar. */
#include "output.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KV_WIDTH	14	/* widest key ("download dir") plus a gap */

const char *
fmt_size(uint64_t bytes, char *out, size_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
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
	char s[FMT_LEN];

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
		table_line(t, width, (const char *const *)t->cells + r * t->ncols, f);
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
term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
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
		if (total > done)
			fmt_duration((uint64_t)((double)(total - done) / bps), eta,
			    sizeof(eta));
	}
	snprintf(tail, sizeof(tail), " %3d%%  %s / %s%s%s%s%s",
	    (int)(frac * 100), d, tot, rate[0] ? "  " : "", rate,
	    eta[0] ? "  ETA " : "", eta);
	width = term_width() - 1;	/* the last column would wrap on some terminals */
	barw = width - (int)strlen(bar.label) - (int)strlen(tail) - 3;
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
