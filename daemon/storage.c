/* storage.c: maps pieces onto files and reads them with pread, for worker threads. */
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metainfo.h"
#include "sha.h"

struct sfile {
	char *path;
	const char *rel;	/* path below base: points into path */
	uint64_t length;
	uint64_t offset;
};

struct storage {
	char *base;		/* trusted directory the files' paths start in */
	struct sfile *files;
	size_t nfiles;
	uint32_t piece_length;
	uint32_t piece_count;
	uint64_t total;
};

struct storage_reader {
	struct storage *st;
	int fd;
	size_t fd_file;		/* index of the file fd refers to */
	int fd_writable;
};

struct storage *
storage_new(const char *base, const struct storage_file *files, size_t nfiles,
    uint32_t piece_length, uint64_t total_length)
{
	struct storage *st;
	uint64_t off = 0;

	if (piece_length == 0 || base[0] != '/' || (st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if ((st->base = strdup(base)) == NULL ||
	    (nfiles && (st->files = calloc(nfiles, sizeof(*st->files))) == NULL))
		goto fail;
	st->nfiles = nfiles;
	for (size_t i = 0; i < nfiles; i++) {
		size_t blen = strlen(base);
		st->files[i].length = files[i].length;
		st->files[i].offset = off;
		off += files[i].length;
		if (asprintf(&st->files[i].path, "%s%s%s", base,
		    blen > 1 ? "/" : "", files[i].path) == -1) {
			st->files[i].path = NULL;
			goto fail;
		}
		st->files[i].rel = st->files[i].path + blen + (blen > 1);
	}
	if (off != total_length)
		goto fail;
	st->piece_length = piece_length;
	st->total = total_length;
	st->piece_count = (uint32_t)((total_length + piece_length - 1) / piece_length);
	return st;
fail:
	storage_free(st);
	return NULL;
}

struct storage *
storage_from_metainfo(const struct metainfo *mi, const char *root)
{
	struct storage_file *sf;
	struct storage *st = NULL;
	const char *slash = strrchr(root, '/');
	char *base = NULL;
	size_t i;

	if (slash == NULL || (sf = calloc(mi->file_count ? mi->file_count : 1,
	    sizeof(*sf))) == NULL)
		return NULL;
	for (i = 0; i < mi->file_count; i++) {
		char *p;
		if (!mi->multi_file)
			p = strdup(slash + 1);
		else if (asprintf(&p, "%s/%s", slash + 1, mi->files[i].path) == -1)
			p = NULL;
		if (p == NULL)
			goto out;
		sf[i].path = p;
		sf[i].length = mi->files[i].length;
	}
	if ((base = strndup(root, slash == root ? 1 : (size_t)(slash - root))) != NULL)
		st = storage_new(base, sf, mi->file_count, mi->piece_length, mi->total_length);
out:
	while (i-- > 0)
		free((char *)sf[i].path);
	free(sf);
	free(base);
	return st;
}

void
storage_free(struct storage *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nfiles; i++)
		free(st->files[i].path);
	free(st->files);
	free(st->base);
	free(st);
}

uint32_t
storage_piece_count(const struct storage *st)
{
	return st->piece_count;
}

uint32_t
storage_piece_size(const struct storage *st, uint32_t piece)
{
	uint64_t start = (uint64_t)piece * st->piece_length;

	if (piece >= st->piece_count)
		return 0;
	if (st->total - start < st->piece_length)
		return (uint32_t)(st->total - start);
	return st->piece_length;
}

uint64_t
storage_total_length(const struct storage *st)
{
	return st->total;
}

size_t
storage_file_count(const struct storage *st)
{
	return st->nfiles;
}

const char *
storage_file_path(const struct storage *st, size_t i)
{
	return i < st->nfiles ? st->files[i].path : NULL;
}

uint64_t
storage_file_length(const struct storage *st, size_t i)
{
	return i < st->nfiles ? st->files[i].length : 0;
}

int
storage_file_pieces(const struct storage *st, size_t i, uint32_t *first, uint32_t *last)
{
	const struct sfile *f;

	if (i >= st->nfiles || st->files[i].length == 0)
		return -1;
	f = &st->files[i];
	*first = (uint32_t)(f->offset / st->piece_length);
	*last = (uint32_t)((f->offset + f->length - 1) / st->piece_length);
	return 0;
}

/* Index of the first non-empty file holding byte off. */
static size_t
storage_file_at(const struct storage *st, uint64_t off)
{
	size_t lo = 0, hi = st->nfiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st->files[mid].offset + st->files[mid].length <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct storage_reader *
storage_reader_new(struct storage *st)
{
	struct storage_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->st = st;
	r->fd = -1;
	return r;
}

void
storage_reader_free(struct storage_reader *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	free(r);
}

static int open_beneath(const char *base, const char *rel, int flags, char *err,
    size_t errlen);

/*
 * Reads go below the base the same way writes do: a symbolic link planted in
 * the download folder must not make a check hash, or a peer receive, a file
 * outside it. (Shares never contain links: share.c skips them.)
 */
static enum storage_status
reader_open(struct storage_reader *r, size_t fi, char *err, size_t errlen)
{
	if (r->fd != -1 && r->fd_file == fi)
		return STORAGE_OK;
	if (r->fd != -1)
		close(r->fd);
	r->fd_writable = 0;
	r->fd = open_beneath(r->st->base, r->st->files[fi].rel, O_RDONLY, err, errlen);
	if (r->fd == -1)
		return errno == ENOENT || errno == ENOTDIR ? STORAGE_MISSING : STORAGE_ERROR;
	r->fd_file = fi;
	return STORAGE_OK;
}

/* Opens file fi for writing, below the base, unless the reader already has it so. */
static enum storage_status
writer_open(struct storage_reader *r, size_t fi, char *err, size_t errlen)
{
	if (r->fd != -1 && r->fd_file == fi && r->fd_writable)
		return STORAGE_OK;
	if (r->fd != -1)
		close(r->fd);
	r->fd_writable = 1;
	r->fd_file = fi;
	r->fd = open_beneath(r->st->base, r->st->files[fi].rel, O_WRONLY | O_CREAT, err,
	    errlen);
	return r->fd == -1 ? STORAGE_ERROR : STORAGE_OK;
}

/*
 * Walks [off, off + len) across the files it spans and reads or writes each
 * part: the one loop both directions share.
 */
static enum storage_status
span_io(struct storage_reader *r, uint64_t off, uint8_t *p, size_t len, int writing,
    char *err, size_t errlen)
{
	struct storage *st = r->st;
	size_t fi;

	if (off > st->total || len > st->total - off) {
		snprintf(err, errlen, "%s past the end of the torrent", writing ? "write" : "read");
		return STORAGE_ERROR;
	}
	fi = storage_file_at(st, off);
	while (len > 0) {
		struct sfile *f = &st->files[fi];
		uint64_t foff = off - f->offset;
		size_t n = f->length - foff < len ? (size_t)(f->length - foff) : len;
		enum storage_status s;
		ssize_t done;

		if (n == 0) {
			fi++;
			continue;
		}
		s = writing ? writer_open(r, fi, err, errlen) : reader_open(r, fi, err, errlen);
		if (s != STORAGE_OK)
			return s;
		done = writing ? pwrite(r->fd, p, n, (off_t)foff) : pread(r->fd, p, n, (off_t)foff);
		if (done < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot %s %s: %s", writing ? "write" : "read",
			    f->path, strerror(errno));
			return STORAGE_ERROR;
		}
		if (done == 0) {
			/* Shorter than the torrent says: truncated underneath us. */
			snprintf(err, errlen, "%s is shorter than the torrent says (no data at "
			    "byte %llu)", f->path, (unsigned long long)foff);
			return STORAGE_MISSING;
		}
		p += done;
		off += (uint64_t)done;
		len -= (size_t)done;
		if ((uint64_t)done == f->length - foff)
			fi++;
	}
	return STORAGE_OK;
}

enum storage_status
storage_read(struct storage_reader *r, uint64_t off, void *out, size_t len,
    char *err, size_t errlen)
{
	return span_io(r, off, out, len, 0, err, errlen);
}

enum storage_status
storage_hash_piece(struct storage_reader *r, uint32_t piece, uint8_t *buf,
    uint8_t out[20], char *err, size_t errlen)
{
	uint32_t n = storage_piece_size(r->st, piece);
	enum storage_status s;

	if (n == 0) {
		snprintf(err, errlen, "piece %u out of range", piece);
		return STORAGE_ERROR;
	}
	s = storage_read(r, (uint64_t)piece * r->st->piece_length, buf, n, err, errlen);
	if (s != STORAGE_OK)
		return s;
	sha1(buf, n, out);
	return STORAGE_OK;
}

void
storage_piece_files(const struct storage *st, uint32_t piece, size_t *first, size_t *last)
{
	uint64_t start = (uint64_t)piece * st->piece_length;
	uint64_t end = start + storage_piece_size(st, piece);

	*first = storage_file_at(st, start);
	*last = *first;
	while (*last + 1 < st->nfiles && st->files[*last + 1].offset < end)
		(*last)++;
}

/*
 * Opens rel below base one component at a time, never following a symbolic
 * link (O_NOFOLLOW on every openat), so nothing planted in the download
 * folder can redirect a read or a write outside it. With O_CREAT in flags
 * missing directories are created 0755 and the file 0644. On failure err
 * says why and errno is kept (ENOENT: something is missing).
 */
static int
open_beneath(const char *base, const char *rel, int flags, char *err, size_t errlen)
{
	char comp[256];
	const char *p = rel;
	int dfd, fd, e;

	if ((dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		e = errno;
		snprintf(err, errlen, "cannot open download folder %s: %s", base, strerror(e));
		errno = e;
		return -1;
	}
	for (;;) {
		size_t n = strcspn(p, "/");
		int nfd;

		if (n == 0 || n >= sizeof(comp)) {
			snprintf(err, errlen, "bad path %s", rel);
			close(dfd);
			errno = EINVAL;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (p[n] == '\0')
			break;
		if ((flags & O_CREAT) && mkdirat(dfd, comp, 0755) == -1 && errno != EEXIST) {
			e = errno;
			snprintf(err, errlen, "cannot create directory %s in %s: %s", comp, base,
			    strerror(e));
			close(dfd);
			errno = e;
			return -1;
		}
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(dfd);
		if (nfd == -1) {
			snprintf(err, errlen, "cannot enter %s below %s: %s", comp, base,
			    e == ELOOP || e == ENOTDIR ? "not a directory (a symbolic "
			    "link or a file is in the way)" : strerror(e));
			errno = e;
			return -1;
		}
		dfd = nfd;
		p += n + 1;
	}
	fd = openat(dfd, comp, flags | O_NOFOLLOW | O_CLOEXEC, 0644);
	e = errno;
	if (fd == -1)
		snprintf(err, errlen, "cannot open %s/%s%s: %s", base, rel,
		    (flags & O_ACCMODE) == O_RDONLY ? "" : " for writing",
		    e == ELOOP ? "it is a symbolic link" : strerror(e));
	close(dfd);
	errno = e;
	return fd;
}

int
storage_unlink_beneath(const char *base, const char *rel, int dir)
{
	char comp[256];
	const char *p = rel;
	int dfd, rc, e;

	if ((dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	for (;;) {
		size_t n = strcspn(p, "/");
		int nfd;

		if (n == 0 || n >= sizeof(comp)) {
			close(dfd);
			errno = EINVAL;
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (p[n] == '\0')
			break;
		nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(dfd);
		if (nfd == -1) {
			errno = e;
			return -1;
		}
		dfd = nfd;
		p += n + 1;
	}
	/* unlinkat never follows the last component: a link there is removed itself. */
	rc = unlinkat(dfd, comp, dir ? AT_REMOVEDIR : 0);
	e = errno;
	close(dfd);
	errno = e;
	return rc;
}

enum storage_status
storage_write(struct storage_reader *r, uint64_t off, const void *src, size_t len,
    char *err, size_t errlen)
{
	/* span_io only writes through p here; it never changes the bytes. */
	return span_io(r, off, (uint8_t *)(uintptr_t)src, len, 1, err, errlen);
}

enum storage_status
storage_create_empty(struct storage *st, char *err, size_t errlen)
{
	for (size_t i = 0; i < st->nfiles; i++) {
		int fd;

		if (st->files[i].length != 0)
			continue;
		if ((fd = open_beneath(st->base, st->files[i].rel, O_WRONLY | O_CREAT, err,
		    errlen)) == -1)
			return STORAGE_ERROR;
		close(fd);
	}
	return STORAGE_OK;
}

enum storage_status
storage_sync(struct storage *st, const size_t *files, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int fd;

		/* Empty files hold no piece; before completion they don't exist yet. */
		if (files[i] >= st->nfiles || st->files[files[i]].length == 0)
			continue;
		fd = open_beneath(st->base, st->files[files[i]].rel, O_WRONLY, err, errlen);
		if (fd == -1) {
			/*
			 * Gone since it was written: the pieces in it must not be
			 * recorded, so this is an error, not a skip.
			 */
			return STORAGE_ERROR;
		}
		if (fdatasync(fd) == -1) {
			snprintf(err, errlen, "cannot sync %s: %s", st->files[files[i]].path,
			    strerror(errno));
			close(fd);
			return STORAGE_ERROR;
		}
		close(fd);
	}
	return STORAGE_OK;
}
