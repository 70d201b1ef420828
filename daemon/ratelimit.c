/* ratelimit.c: token buckets for global upload/download limits and per-peer rate meters. */
#include "ratelimit.h"

#include <math.h>
#include <string.h>

#include "netaddr.h"

static double
burst_of(uint64_t rate)
{
	double b = (double)rate / 4;

	return b > RATELIMIT_MIN_BURST ? b : RATELIMIT_MIN_BURST;
}

/* Accrues tokens for the time since last; a clock that went back accrues nothing. */
static double
tokens_at(const struct ratelimit *r, double now)
{
	double t = r->tokens;

	if (now > r->last)
		t += (now - r->last) * (double)r->rate;
	return t < r->burst ? t : r->burst;
}

static void
refill(struct ratelimit *r, double now)
{
	r->tokens = tokens_at(r, now);
	if (now > r->last)
		r->last = now;
}

void
ratelimit_init(struct ratelimit *r, uint64_t rate_bytes_per_s, double now)
{
	r->rate = rate_bytes_per_s;
	r->burst = burst_of(rate_bytes_per_s);
	r->tokens = r->burst;
	r->last = now;
}

void
ratelimit_set_rate(struct ratelimit *r, uint64_t rate, double now)
{
	if (r->rate == 0) {
		/* Leaving unlimited: nothing was saved, start full like a new bucket. */
		ratelimit_init(r, rate, now);
		return;
	}
	refill(r, now);
	r->rate = rate;
	r->burst = burst_of(rate);
	if (r->tokens > r->burst)
		r->tokens = r->burst;
}

uint64_t
ratelimit_take(struct ratelimit *r, uint64_t want, double now)
{
	uint64_t n;

	if (r->rate == 0)
		return want;
	refill(r, now);
	n = r->tokens >= 1 ? (uint64_t)r->tokens : 0;
	if (n > want)
		n = want;
	r->tokens -= (double)n;
	return n;
}

double
ratelimit_wait(const struct ratelimit *r, uint64_t want, double now)
{
	double need = (double)want, have;

	if (r->rate == 0)
		return 0;
	if (need > r->burst)
		need = r->burst;
	have = tokens_at(r, now);
	if (have >= need)
		return 0;
	return (need - have) / (double)r->rate;
}

void
rate_meter_init(struct rate_meter *m)
{
	memset(m, 0, sizeof(*m));
}

static size_t
slot_of(int64_t sec)
{
	int64_t s = sec % RATE_METER_WINDOW;

	return (size_t)(s < 0 ? s + RATE_METER_WINDOW : s);
}

/* Clears the slots of seconds that passed since the newest one. */
static void
advance(struct rate_meter *m, double now)
{
	int64_t s = (int64_t)floor(now);

	if (s <= m->sec)
		return;
	if (s - m->sec >= RATE_METER_WINDOW)
		memset(m->bytes, 0, sizeof(m->bytes));
	else
		for (int64_t t = m->sec + 1; t <= s; t++)
			m->bytes[slot_of(t)] = 0;
	m->sec = s;
}

void
rate_meter_add(struct rate_meter *m, uint64_t bytes, double now)
{
	if (!m->started) {
		memset(m->bytes, 0, sizeof(m->bytes));
		m->sec = (int64_t)floor(now);
		m->start = now;
		m->started = 1;
	}
	advance(m, now);
	m->bytes[slot_of(m->sec)] += bytes;
}

double
rate_meter_rate(struct rate_meter *m, double now)
{
	double from, span;
	uint64_t sum = 0;

	if (!m->started)
		return 0;
	advance(m, now);
	for (size_t i = 0; i < RATE_METER_WINDOW; i++)
		sum += m->bytes[i];
	/* The slots cover whole seconds back from the current one, or since the start. */
	from = (double)(m->sec - RATE_METER_WINDOW + 1);
	if (m->start > from)
		from = m->start;
	span = now - from;
	/* At least a second: one fresh add must not read as a huge rate. */
	if (span < 1)
		span = 1;
	return (double)sum / span;
}

int
ratelimit_addr_allow(struct addr_bucket *table, size_t nslots, const struct netaddr *a,
    double per_sec, double burst, double now)
{
	uint8_t c[18], ip[16] = { 0 };
	int len = netaddr_to_compact(a, c, sizeof(c));
	size_t iplen = len == 18 ? 16 : 4;
	uint32_t h = 2166136261u;	/* FNV-1a over the IP */
	struct addr_bucket *r;

	if (len < 0)
		return 0;
	memcpy(ip, c, iplen);
	for (size_t i = 0; i < iplen; i++)
		h = (h ^ ip[i]) * 16777619u;
	r = &table[h % nslots];
	if (r->last == 0 || memcmp(r->ip, ip, sizeof(ip)) != 0) {
		memcpy(r->ip, ip, sizeof(ip));
		r->tokens = burst;
		r->last = now;
	}
	r->tokens = fmin(burst, r->tokens + (now - r->last) * per_sec);
	r->last = now;
	if (r->tokens < 1.0)
		return 0;
	r->tokens -= 1.0;
	return 1;
}
