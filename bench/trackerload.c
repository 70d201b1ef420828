/* trackerload.c: a load generator for BitTorrent trackers (UDP BEP 15 and HTTP announces), for bench/tracker.sh. */
/*
 * Plain C and libc only, so the same binary drives any tracker. One thread,
 * non-blocking sockets and epoll; N requests stay in flight. Every request
 * announces one peer of a fixed population: peer g (0 <= g < peers) is in
 * swarm g % swarms, comes from source address 127.42.0.1 + g % sources and
 * announces port 1024 + g / sources, so each peer is a distinct ip:port the
 * tracker keeps (trackers take the address from the packet, not the request).
 *
 *   trackerload udp       -t ADDR:PORT [-n INFLIGHT] [-d SECS] ...
 *   trackerload http      -t ADDR:PORT [-n CONNS] ...   a new connection per announce
 *   trackerload keepalive -t ADDR:PORT [-n CONNS] [-D DEPTH] ...
 *   trackerload fill      -t ADDR:PORT -P PID [-N PEERS] ...   memory per peer
 *   trackerload hashes    [-s SWARMS]    the info-hashes in hex (for a whitelist)
 *
 * Prints one line per run: rate (answered announces per second in the
 * measured window, after a warm-up), latency p50/p99 (send to full answer;
 * for a new HTTP connection: connect to full answer), errors (refusals,
 * malformed or non-200 answers, dropped connections), timeouts (UDP requests
 * unanswered after 1 s, sent again).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 4096
#define MAX_DEPTH 64
#define UDP_BATCH 64
#define UDP_TIMEOUT_NS 1000000000ull
#define UDP_RECONNECT_NS 30000000000ull	/* BEP 15 ids live >= 1 minute; refresh well before */
#define HTTP_IN 65536
#define HTTP_OUT (MAX_DEPTH * 512)
#define SRC_BASE 0x7f2a0001u		/* 127.42.0.1: away from the trackers' 127.0.0.x */

static struct {
	const char *mode;
	struct sockaddr_in target;
	const char *target_s;
	const char *label;
	int inflight;
	int depth;
	double secs;
	double warmup;
	uint64_t peers;
	uint32_t swarms;
	int sources;
	int numwant;
	int pid;
} O = {
	.inflight = 64, .depth = 1, .secs = 5, .warmup = 1, .peers = 100000,
	.swarms = 1000, .sources = 64, .numwant = 50, .label = "-",
};

static uint8_t (*hashes)[20];
static char (*hash_pct)[61];		/* the hashes %-escaped for HTTP */

struct stats {
	uint64_t ok, errors, timeouts, reconnects;
	uint32_t *lat;			/* nanoseconds, capped at 4.29 s */
	size_t nlat, caplat;
	uint64_t t0, t1;		/* the measured window */
	double cpu0, cpu1;		/* the tracker's CPU seconds at its start and end (-P) */
	int cpu_state;			/* 0: before the window, 1: in it, 2: after */
};
static struct stats S;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

/* splitmix64: cheap, well-spread, and the same on every run, so whitelists match. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
make_hashes(void)
{
	hashes = calloc(O.swarms, sizeof(*hashes));
	hash_pct = calloc(O.swarms, sizeof(*hash_pct));
	if (hashes == NULL || hash_pct == NULL)
		die("calloc");
	for (uint32_t s = 0; s < O.swarms; s++) {
		uint64_t w[3] = { mix(3ull * s), mix(3ull * s + 1), mix(3ull * s + 2) };
		memcpy(hashes[s], w, 20);
		for (int i = 0; i < 20; i++)
			snprintf(hash_pct[s] + 3 * i, 4, "%%%02X", hashes[s][i]);
	}
}

/* The measured window only: warm-up answers count for nothing. */
static int
measuring(uint64_t t)
{
	return t >= S.t0 && t < S.t1;
}

static void
record(uint64_t sent, uint64_t t)
{
	uint64_t d = t - sent;

	if (!measuring(t))
		return;
	S.ok++;
	if (S.nlat == S.caplat) {
		size_t n = S.caplat ? S.caplat * 2 : 1 << 20;
		uint32_t *v = realloc(S.lat, n * sizeof(*v));
		if (v == NULL)
			return;
		S.lat = v;
		S.caplat = n;
	}
	S.lat[S.nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_us(double p)
{
	if (S.nlat == 0)
		return 0;
	size_t i = (size_t)(p * (double)(S.nlat - 1) + 0.5);
	return S.lat[i] / 1000.0;
}

static void
report(void)
{
	double secs = (double)(S.t1 - S.t0) / 1e9;

	qsort(S.lat, S.nlat, sizeof(*S.lat), cmp_u32);
	printf("%s mode=%s target=%s conc=%d depth=%d secs=%.2f ok=%llu rate=%.0f "
	    "p50_us=%.1f p99_us=%.1f errors=%llu timeouts=%llu reconnects=%llu",
	    O.label, O.mode, O.target_s, O.inflight, O.depth, secs,
	    (unsigned long long)S.ok, (double)S.ok / secs, pct_us(0.50), pct_us(0.99),
	    (unsigned long long)S.errors, (unsigned long long)S.timeouts,
	    (unsigned long long)S.reconnects);
	/* Tracker CPU per answer: what the rate would be with a core of its own, noise aside. */
	if (S.cpu_state == 2 && S.ok > 0)
		printf(" cpu_us=%.2f", (S.cpu1 - S.cpu0) * 1e6 / (double)S.ok);
	putchar('\n');
}

static long
rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		die(path);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/* CPU seconds (user + system, all threads) the process has used so far. */
static double
proc_cpu(int pid)
{
	char path[64], line[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		die(path);
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	/* Fields after the command, which may hold spaces: state is field 3, utime 14. */
	if ((p = strrchr(line, ')')) != NULL)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Takes the tracker's CPU time as the clock enters and leaves the window. */
static void
window_tick(uint64_t t)
{
	if (O.pid <= 0)
		return;
	if (S.cpu_state == 0 && t >= S.t0) {
		S.cpu0 = proc_cpu(O.pid);
		S.cpu_state = 1;
	} else if (S.cpu_state == 1 && t >= S.t1) {
		S.cpu1 = proc_cpu(O.pid);
		S.cpu_state = 2;
	}
}

static struct sockaddr_in
src_addr(int i)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(SRC_BASE + (uint32_t)i);
	return a;
}

static uint16_t
peer_port(uint64_t g)
{
	return (uint16_t)(1024 + (g / (uint64_t)O.sources) % 64000);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* --- UDP (BEP 15) ---------------------------------------------------------- */

#define TID_CONNECT 0x80000000u		/* connect replies: tid = this | source index */

struct udp_src {
	int fd;
	uint8_t cid[8];
	int have_cid;
};

struct udp_slot {
	uint64_t sent;
	uint64_t g;
	uint16_t gen;
	int busy;
};

static struct udp_src *srcs;
static struct udp_slot slots[MAX_SLOTS];

static void
udp_send_connect(int i)
{
	uint8_t p[16];

	put64(p, 0x41727101980ull);
	put32(p + 8, 0);
	put32(p + 12, TID_CONNECT | (uint32_t)i);
	(void)!send(srcs[i].fd, p, sizeof(p), 0);
}

static void
udp_open(void)
{
	srcs = calloc((size_t)O.sources, sizeof(*srcs));
	if (srcs == NULL)
		die("calloc");
	for (int i = 0; i < O.sources; i++) {
		struct sockaddr_in a = src_addr(i);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), sz = 4 << 20;
		if (fd == -1)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
			die("bind 127.42.x.y (UDP source)");
		if (connect(fd, (struct sockaddr *)&O.target, sizeof(O.target)) == -1)
			die("connect");
		srcs[i].fd = fd;
	}
}

/* Handles one datagram; returns the slot it answered, or -1. */
static int
udp_input(const uint8_t *p, size_t n, uint64_t t)
{
	uint32_t action, tid;
	struct udp_slot *sl;

	if (n < 8)
		return -1;
	action = get32(p);
	tid = get32(p + 4);
	if (action == 0 && (tid & TID_CONNECT) && n >= 16) {
		uint32_t i = tid & ~TID_CONNECT;
		if (i < (uint32_t)O.sources) {
			memcpy(srcs[i].cid, p + 8, 8);
			srcs[i].have_cid = 1;
		}
		return -1;
	}
	if ((tid & 0xffff) >= MAX_SLOTS)
		return -1;
	sl = &slots[tid & 0xffff];
	if (!sl->busy || sl->gen != (uint16_t)(tid >> 16))
		return -1;		/* the answer to a request that timed out */
	sl->busy = 0;
	if (action == 1 && n >= 20)
		record(sl->sent, t);
	else if (measuring(t) || !strcmp(O.mode, "fill"))
		S.errors++;
	return (int)(sl - slots);
}

static void
udp_issue(int j, uint64_t g, uint64_t t)
{
	struct udp_slot *sl = &slots[j];
	struct udp_src *src = &srcs[g % (uint64_t)O.sources];
	uint8_t p[98];
	int fill = !strcmp(O.mode, "fill");

	sl->gen++;
	sl->g = g;
	sl->sent = t;
	sl->busy = 1;
	memcpy(p, src->cid, 8);
	put32(p + 8, 1);
	put32(p + 12, (uint32_t)sl->gen << 16 | (uint32_t)j);
	memcpy(p + 16, hashes[g % O.swarms], 20);
	snprintf((char *)p + 36, 21, "-TL0001-%012llu", (unsigned long long)g);
	put64(p + 56, 0);				/* downloaded */
	put64(p + 64, g % 4 == 0 ? 0 : 1000000);	/* left: a quarter seed */
	put64(p + 72, 0);				/* uploaded */
	put32(p + 80, fill ? 2 : 0);			/* event: started when filling */
	put32(p + 84, 0);				/* ip: the sender's */
	put32(p + 88, (uint32_t)mix(g));		/* key */
	put32(p + 92, (uint32_t)(fill ? 0 : O.numwant));
	p[96] = (uint8_t)(peer_port(g) >> 8);
	p[97] = (uint8_t)peer_port(g);
	if (send(src->fd, p, sizeof(p), 0) == -1 && errno != EAGAIN && errno != ENOBUFS)
		die("send");
}

/* Connect on every source before the clock starts; later refreshes go on in the loop. */
static void
udp_connect_all(void)
{
	uint8_t buf[64];
	int missing;

	for (int round = 0; round < 10; round++) {
		missing = 0;
		for (int i = 0; i < O.sources; i++)
			if (!srcs[i].have_cid) {
				udp_send_connect(i);
				missing++;
			}
		if (missing == 0)
			return;
		uint64_t end = now_ns() + 500000000ull;
		while (now_ns() < end) {
			int got = 0;
			for (int i = 0; i < O.sources; i++) {
				ssize_t n = recv(srcs[i].fd, buf, sizeof(buf), 0);
				if (n > 0) {
					udp_input(buf, (size_t)n, 0);
					got = 1;
				}
			}
			missing = 0;
			for (int i = 0; i < O.sources; i++)
				missing += !srcs[i].have_cid;
			if (missing == 0)
				return;
			if (!got)
				usleep(1000);
		}
	}
	fprintf(stderr, "trackerload: no connect answer from %s\n", O.target_s);
	exit(1);
}

static void
run_udp(void)
{
	int fill = !strcmp(O.mode, "fill"), ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t next_g = 0, done = 0, t, last_check, last_connect;
	long rss0 = 0;
	static uint8_t bufs[UDP_BATCH][2048];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];

	if (ep == -1)
		die("epoll_create1");
	udp_open();
	udp_connect_all();
	for (int i = 0; i < O.sources; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, srcs[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
	if (fill) {
		rss0 = rss_kib(O.pid);
		O.warmup = 0;
	}
	t = last_check = last_connect = now_ns();
	S.t0 = t + (uint64_t)(O.warmup * 1e9);
	S.t1 = fill ? UINT64_MAX : S.t0 + (uint64_t)(O.secs * 1e9);
	for (int j = 0; j < O.inflight; j++) {
		if (fill && next_g >= O.peers)
			break;
		udp_issue(j, fill ? next_g++ : next_g++ % O.peers, t);
	}
	for (;;) {
		struct epoll_event evs[64];
		int nev = epoll_wait(ep, evs, 64, 10);

		t = now_ns();
		if (!fill)
			window_tick(t);
		if (!fill && t >= S.t1)
			break;
		for (int e = 0; e < nev; e++) {
			int fd = srcs[evs[e].data.u32].fd, n;
			do {
				for (int k = 0; k < UDP_BATCH; k++) {
					iov[k].iov_base = bufs[k];
					iov[k].iov_len = sizeof(bufs[k]);
					memset(&msgs[k].msg_hdr, 0, sizeof(msgs[k].msg_hdr));
					msgs[k].msg_hdr.msg_iov = &iov[k];
					msgs[k].msg_hdr.msg_iovlen = 1;
				}
				n = recvmmsg(fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
				t = now_ns();
				for (int k = 0; k < n; k++) {
					int j = udp_input(bufs[k], msgs[k].msg_len, t);
					if (j < 0)
						continue;
					done++;
					if (!fill)
						udp_issue(j, next_g++ % O.peers, t);
					else if (next_g < O.peers)
						udp_issue(j, next_g++, t);
				}
			} while (n == UDP_BATCH);
		}
		if (fill && done >= O.peers)
			break;
		if (t - last_check > 50000000ull) {
			/* Lost datagrams: count them, and ask again (the same peer when filling). */
			for (int j = 0; j < O.inflight; j++)
				if (slots[j].busy && t - slots[j].sent > UDP_TIMEOUT_NS) {
					if (measuring(t) || fill)
						S.timeouts++;
					udp_issue(j, fill ? slots[j].g : next_g++ % O.peers, t);
				}
			last_check = t;
		}
		if (t - last_connect > UDP_RECONNECT_NS) {
			for (int i = 0; i < O.sources; i++)
				udp_send_connect(i);
			last_connect = t;
		}
	}
	if (fill) {
		long rss1;
		S.t1 = now_ns();
		sleep(1);	/* let the tracker finish what it queued */
		rss1 = rss_kib(O.pid);
		qsort(S.lat, S.nlat, sizeof(*S.lat), cmp_u32);
		printf("%s mode=fill target=%s peers=%llu swarms=%u secs=%.2f rate=%.0f "
		    "errors=%llu timeouts=%llu rss_before_kib=%ld rss_after_kib=%ld "
		    "bytes_per_peer=%.1f\n", O.label, O.target_s, (unsigned long long)O.peers,
		    O.swarms, (double)(S.t1 - S.t0) / 1e9,
		    (double)S.ok / ((double)(S.t1 - S.t0) / 1e9), (unsigned long long)S.errors,
		    (unsigned long long)S.timeouts, rss0, rss1,
		    (double)(rss1 - rss0) * 1024.0 / (double)O.peers);
		return;
	}
	report();
}

/* --- HTTP ------------------------------------------------------------------ */

struct hconn {
	int fd;
	int connecting;
	uint32_t mask;			/* the epoll events asked for */
	int src;			/* keep-alive: the source address of this connection */
	uint64_t opened;
	uint64_t sent[MAX_DEPTH];	/* ring of the send times of requests in flight */
	int head, outstanding;
	char in[HTTP_IN];
	size_t inlen;
	char out[HTTP_OUT];
	size_t outlen, outoff;
};

static struct hconn *conns;
static uint64_t http_g;
static int http_ep;

static void
http_request(struct hconn *c, uint64_t g, int close_it, uint64_t t)
{
	int n = snprintf(c->out + c->outlen, sizeof(c->out) - c->outlen,
	    "GET /announce?info_hash=%s&peer_id=-TL0001-%012llu&port=%u&uploaded=0"
	    "&downloaded=0&left=%u&numwant=%d&compact=1 HTTP/1.1\r\nHost: %s\r\n%s\r\n",
	    hash_pct[g % O.swarms], (unsigned long long)g, peer_port(g),
	    g % 4 == 0 ? 0u : 1000000u, O.numwant, O.target_s,
	    close_it ? "Connection: close\r\n" : "");

	if (n < 0 || (size_t)n >= sizeof(c->out) - c->outlen) {
		fprintf(stderr, "trackerload: request buffer too small\n");
		exit(1);
	}
	c->outlen += (size_t)n;
	c->sent[(c->head + c->outstanding) % MAX_DEPTH] = t;
	c->outstanding++;
}

/* A new connection for slot c from the source of peer g (new-connection mode) or c's own. */
static void
http_open(struct hconn *c, uint64_t t)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int keep = !strcmp(O.mode, "keepalive");
	struct sockaddr_in a;
	struct epoll_event ev;

	if (fd == -1)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Port chosen at connect: 4-tuples, not bare ports, must be unique. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	a = src_addr(keep ? c->src : (int)(http_g % (uint64_t)O.sources));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
		die("bind 127.42.x.y (TCP source)");
	if (connect(fd, (struct sockaddr *)&O.target, sizeof(O.target)) == -1 &&
	    errno != EINPROGRESS)
		die("connect");
	c->fd = fd;
	c->connecting = 1;
	c->opened = t;
	c->inlen = c->outlen = c->outoff = 0;
	c->head = c->outstanding = 0;
	if (keep) {
		for (int k = 0; k < O.depth; k++)
			http_request(c, http_g++, 0, t);
	} else {
		/* Sent when connected, but its clock starts now: connecting is part of it. */
		http_request(c, http_g++, 1, t);
	}
	ev.events = c->mask = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(http_ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		die("epoll_ctl");
}

static void
http_close(struct hconn *c)
{
	close(c->fd);
	c->fd = -1;
}

/*
 * Parses one whole answer at the head of c->in: its length, or 0 if more is
 * needed (at_eof: the body ends at the end), or -1 if it is not HTTP at all.
 * *good: status 200 with a bencoded body that is no failure.
 */
static long
http_parse(struct hconn *c, int at_eof, int *good)
{
	char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4), *p;
	size_t head, len;
	long cl = -1;

	if (end == NULL)
		return at_eof && c->inlen ? -1 : 0;
	head = (size_t)(end - c->in) + 4;
	for (p = c->in; p < end; p++)
		if (*p == '\n' && end - p > 16 && strncasecmp(p + 1, "content-length:", 15) == 0) {
			cl = strtol(p + 16, NULL, 10);
			break;
		}
	if (cl < 0 && !at_eof)
		return 0;
	len = cl < 0 ? c->inlen : head + (size_t)cl;
	if (len > c->inlen)
		return at_eof ? -1 : 0;
	*good = c->inlen >= 12 && strncmp(c->in, "HTTP/1.", 7) == 0 &&
	    strncmp(c->in + 9, "200", 3) == 0 && len > head && c->in[head] == 'd' &&
	    memmem(c->in + head, len - head, "failure reason", 14) == NULL;
	return (long)len;
}

static void
http_event(struct hconn *c, uint32_t events, uint64_t t)
{
	int keep = !strcmp(O.mode, "keepalive"), eof = 0;

	if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			if (measuring(t))
				S.errors++;
			http_close(c);
			http_open(c, t);
			return;
		}
		c->connecting = 0;
	}
	if (events & EPOLLIN) {
		for (;;) {
			ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
			if (n > 0) {
				c->inlen += (size_t)n;
				if (c->inlen < sizeof(c->in))
					continue;
				break;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				eof = 1;
			break;
		}
		for (;;) {
			int good = 0;
			long len = http_parse(c, eof, &good);
			if (len == 0)
				break;
			if (len < 0 || c->outstanding == 0) {
				if (measuring(t))
					S.errors++;
				eof = 1;
				c->inlen = 0;
				break;
			}
			if (good)
				record(c->sent[c->head], t);
			else if (measuring(t))
				S.errors++;
			c->head = (c->head + 1) % MAX_DEPTH;
			c->outstanding--;
			memmove(c->in, c->in + len, c->inlen - (size_t)len);
			c->inlen -= (size_t)len;
			if (!keep) {
				eof = 1;	/* one announce per connection */
				break;
			}
			if (eof)
				continue;	/* closed after answering: ask nothing more here */
			if (c->outoff == c->outlen)
				c->outoff = c->outlen = 0;
			http_request(c, http_g++, 0, t);
		}
	}
	if (eof) {
		/* A keep-alive connection the tracker closed: what was in flight is lost. */
		if (c->outstanding > 0 && measuring(t))
			S.errors += (uint64_t)c->outstanding;
		if (keep && measuring(t))
			S.reconnects++;
		http_close(c);
		http_open(c, t);
		return;
	}
	while (!c->connecting && c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	uint32_t want = EPOLLIN | (c->outlen || c->connecting ? EPOLLOUT : 0);
	if (want != c->mask) {
		struct epoll_event ev = { .events = want, .data.ptr = c };
		epoll_ctl(http_ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->mask = want;
	}
}

static void
run_http(void)
{
	uint64_t t = now_ns();

	if ((http_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	if ((conns = calloc((size_t)O.inflight, sizeof(*conns))) == NULL)
		die("calloc");
	S.t0 = t + (uint64_t)(O.warmup * 1e9);
	S.t1 = S.t0 + (uint64_t)(O.secs * 1e9);
	for (int i = 0; i < O.inflight; i++) {
		conns[i].src = i % O.sources;
		http_open(&conns[i], t);
	}
	while (t < S.t1) {
		struct epoll_event evs[256];
		int n = epoll_wait(http_ep, evs, 256, 10);
		t = now_ns();
		window_tick(t);
		for (int i = 0; i < n; i++)
			http_event(evs[i].data.ptr, evs[i].events, t);
	}
	report();
}

/* --- main ------------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: trackerload udp|http|keepalive|fill|hashes -t ADDR:PORT [-l LABEL]\n"
	    "  -n N      requests in flight (udp, fill) or connections (http, keepalive); 64\n"
	    "  -D DEPTH  keepalive: requests pipelined per connection (1)\n"
	    "  -d SECS   measured seconds (5); -W SECS warm-up first (1)\n"
	    "  -N PEERS  peers in the population (100000; fill: how many to add)\n"
	    "  -s SWARMS swarms they are spread over (1000); -S SOURCES source addresses (64)\n"
	    "  -w NUM    numwant (50); -P PID the tracker's pid: its CPU time per announce,\n"
	    "            and for fill its VmRSS before and after\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int ch;
	char host[64], *colon;

	if (argc < 2)
		usage();
	O.mode = argv[1];
	optind = 2;
	while ((ch = getopt(argc, argv, "t:n:D:d:W:N:s:S:w:P:l:")) != -1) {
		switch (ch) {
		case 't':
			O.target_s = optarg;
			snprintf(host, sizeof(host), "%s", optarg);
			if ((colon = strrchr(host, ':')) == NULL)
				usage();
			*colon = '\0';
			O.target.sin_family = AF_INET;
			O.target.sin_port = htons((uint16_t)atoi(colon + 1));
			if (inet_pton(AF_INET, host, &O.target.sin_addr) != 1)
				usage();
			break;
		case 'n': O.inflight = atoi(optarg); break;
		case 'D': O.depth = atoi(optarg); break;
		case 'd': O.secs = atof(optarg); break;
		case 'W': O.warmup = atof(optarg); break;
		case 'N': O.peers = strtoull(optarg, NULL, 10); break;
		case 's': O.swarms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'S': O.sources = atoi(optarg); break;
		case 'w': O.numwant = atoi(optarg); break;
		case 'P': O.pid = atoi(optarg); break;
		case 'l': O.label = optarg; break;
		default: usage();
		}
	}
	if (O.inflight < 1 || O.inflight > MAX_SLOTS || O.depth < 1 || O.depth > MAX_DEPTH ||
	    O.swarms < 1 || O.sources < 1 || O.sources > 60000 || O.peers < 1 || O.secs <= 0 ||
	    O.warmup < 0)
		usage();
	make_hashes();
	if (!strcmp(O.mode, "hashes")) {
		for (uint32_t s = 0; s < O.swarms; s++) {
			for (int i = 0; i < 20; i++)
				printf("%02x", hashes[s][i]);
			putchar('\n');
		}
		return 0;
	}
	if (O.target_s == NULL)
		usage();
	if (!strcmp(O.mode, "udp")) {
		run_udp();
	} else if (!strcmp(O.mode, "fill")) {
		if (O.pid <= 0)
			usage();
		run_udp();
	} else if (!strcmp(O.mode, "http") || !strcmp(O.mode, "keepalive")) {
		run_http();
	} else {
		usage();
	}
	return 0;
}
