/* SPDX-License-Identifier: MIT */
/*
 * fscache.c - decoded data chunks for the read path of the mount.
 *
 * Three levels, each bounded:
 *   1. an in-memory LRU of decoded chunks (MEM_MAX_CHUNKS entries and
 *      MEM_MAX_BYTES bytes, divided among the caches of a daemon serving
 *      several repositories: fs_cache_share); entries are reference
 *      counted, each knows its cache, so a chunk
 *      evicted while a reply still uses it lives until that reply is sent;
 *      concurrent readers of a chunk being loaded wait for the one loader;
 *   2. optionally, files of decoded chunks in <cache-dir>/chunks/ (disk_max
 *      bytes in all; evicted oldest-first by mtime), verified against their
 *      blob id when read back, useful when the repository is remote;
 *      a chunk is written there the second time it is loaded from the
 *      repository (SEEN_SLOTS);
 *   3. the repository (drfs_repo_blob_read: decrypt, decompress, verify).
 * Prefetch requests go into a small ring drained by PREFETCH_THREADS
 * background threads; when the ring is full, a request is dropped.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsint.h"

#define MEM_MAX_CHUNKS 64
#define MEM_MAX_BYTES (12u << 20)
#define PREFETCH_THREADS 2
#define PREFETCH_RING 32
/*
 * A chunk goes to the disk level the second time it is loaded from the
 * repository, not the first: a copy out of the mount reads each chunk
 * once, and writing every one of them to <cache-dir>/chunks/ doubled the
 * disk writes of a cp -a out of an s3:// repository (the decoded tree a
 * second time) and took an eighth of the daemon's CPU (open, write,
 * rename: docs/benchmarks.md). SEEN_SLOTS tags of chunks loaded once
 * (a lossy table: 128 KiB).
 */
#define SEEN_SLOTS 16384

struct fs_chunk {
	struct fs_chunk_cache *cache; /* its cache (several per process) */
	struct drfs_id id;
	uint8_t *data;
	size_t len;
	int refs;  /* protected by cache lock */
	int state; /* 0 loading, 1 ready, < 0 failed; cache lock */
	bool in_lru;
	struct fs_chunk *prev, *next; /* LRU, most recent first; cache lock */
};

struct fs_chunk_cache {
	struct drfs_repo *repo;
	pthread_mutex_t lock;
	pthread_cond_t loaded;	/* a chunk left state 0 */
	pthread_cond_t work;	/* prefetch ring not empty or stop */
	struct fs_chunk *head, *tail;
	size_t n, bytes;

	struct drfs_id ring[PREFETCH_RING]; /* cache lock */
	size_t ring_head, ring_n;
	bool stop;
	pthread_t threads[PREFETCH_THREADS];
	int n_threads;

	/* chunk reads of the request threads (not the prefetch threads):
	 * all, and those that waited for a load (cache lock) */
	uint64_t reads, waited;

	/* disk level: dir NULL when disabled */
	char *dir;
	_Atomic uint64_t seen[SEEN_SLOTS]; /* tags of chunks loaded once */
	uint64_t disk_max;
	pthread_mutex_t disk_lock; /* protects disk_bytes, evicting */
	uint64_t disk_bytes;
};

static void chunk_free(struct fs_chunk *ch)
{
	free(ch->data);
	free(ch);
}

/* Drop one reference; cache lock held. */
static void unref_locked(struct fs_chunk *ch)
{
	if (--ch->refs == 0)
		chunk_free(ch);
}

/* Take ch out of the LRU without dropping the LRU's reference. */
static void lru_detach(struct fs_chunk_cache *c, struct fs_chunk *ch)
{
	if (ch->prev)
		ch->prev->next = ch->next;
	else
		c->head = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	else
		c->tail = ch->prev;
	ch->prev = ch->next = NULL;
	ch->in_lru = false;
	c->n--;
	c->bytes -= ch->len;
}

/* Take ch out of the LRU and drop the LRU's reference. */
static void lru_unlink(struct fs_chunk_cache *c, struct fs_chunk *ch)
{
	lru_detach(c, ch);
	unref_locked(ch);
}

static void lru_front(struct fs_chunk_cache *c, struct fs_chunk *ch)
{
	if (c->head == ch)
		return;
	/* unlink without dropping the reference */
	if (ch->prev)
		ch->prev->next = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
	else
		c->tail = ch->prev;
	ch->prev = NULL;
	ch->next = c->head;
	c->head->prev = ch;
	c->head = ch;
}

/*
 * How many chunk caches of this process share the memory bound (one per
 * repository of a several-repository mount: one budget for the daemon).
 */
static atomic_uint mem_share = 1;

void fs_cache_share(unsigned n)
{
	atomic_store(&mem_share, n ? n : 1);
}

static void lru_evict(struct fs_chunk_cache *c)
{
	struct fs_chunk *ch = c->tail;
	unsigned share = atomic_load(&mem_share);
	size_t max_n = MAX(MEM_MAX_CHUNKS / share, 8u);
	size_t max_bytes = MEM_MAX_BYTES / share;
	while (ch && (c->n > max_n || c->bytes > max_bytes)) {
		struct fs_chunk *prev = ch->prev;
		if (ch->state != 0)
			lru_unlink(c, ch);
		ch = prev;
	}
}

static struct fs_chunk *lru_find(struct fs_chunk_cache *c,
				 const struct drfs_id *id)
{
	for (struct fs_chunk *ch = c->head; ch; ch = ch->next)
		if (drfs_id_eq(&ch->id, id))
			return ch;
	return NULL;
}

/* ---- disk level ---------------------------------------------------------- */

static void disk_path(struct fs_chunk_cache *c, const struct drfs_id *id,
		      char *out, size_t max)
{
	char hex[DRFS_ID_HEX_LEN + 1];
	snprintf(out, max, "%s/%s", c->dir, drfs_id_hex(id, hex));
}

static int disk_read(struct fs_chunk_cache *c, const struct drfs_id *id,
		     struct fs_chunk *ch)
{
	char path[4200];
	struct stat st;
	struct drfs_id got;

	disk_path(c, id, path, sizeof(path));
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > DRFS_BLOB_MAX)
		return -EBADMSG;
	uint8_t *p = malloc((size_t)st.st_size);
	if (!p)
		return -ENOMEM;
	ssize_t n = drfs_pread_all(fd, p, (size_t)st.st_size, 0);
	if (n != st.st_size) {
		free(p);
		return -EIO;
	}
	drfs_blob_id(&c->repo->keys, p, (size_t)n, &got);
	if (!drfs_id_eq(&got, id)) {
		free(p);
		unlink(path); /* a damaged cache file: fetch again */
		return -EBADMSG;
	}
	ch->data = p;
	ch->len = (size_t)n;
	return 0;
}

struct disk_ent {
	time_t t;
	char name[80];
};

static int mtime_cmp(const void *a, const void *b)
{
	const struct disk_ent *x = a, *y = b;
	return (x->t > y->t) - (x->t < y->t);
}

/* Remove the oldest files until the disk level is under 90 % of its size. */
static void disk_evict(struct fs_chunk_cache *c)
{
	size_t n = 0, cap = 1024;
	struct disk_ent *v = malloc(cap * sizeof(*v));
	uint64_t total = 0;
	char path[4200];
	struct stat st;

	DIR *d = opendir(c->dir);
	if (!d || !v) {
		free(v);
		if (d)
			closedir(d);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != DRFS_ID_HEX_LEN)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		total += (uint64_t)st.st_size;
		if (drfs_grow(&v, &cap, n, sizeof(*v), cap) < 0)
			break;
		v[n].t = st.st_mtime;
		memcpy(v[n].name, de->d_name, DRFS_ID_HEX_LEN + 1);
		n++;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), mtime_cmp);
	for (size_t i = 0; i < n && total > c->disk_max / 10 * 9; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, v[i].name);
		if (stat(path, &st) == 0 && unlink(path) == 0)
			total -= MIN(total, (uint64_t)st.st_size);
	}
	free(v);
	pthread_mutex_lock(&c->disk_lock);
	c->disk_bytes = total;
	pthread_mutex_unlock(&c->disk_lock);
}

static void disk_write(struct fs_chunk_cache *c, const struct drfs_id *id,
		       const uint8_t *p, size_t len)
{
	char path[4200], tmp[4300];
	bool evict;

	disk_path(c, id, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%lu.tmp", path,
		 (unsigned long)pthread_self());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int r = drfs_write_all(fd, p, len);
	close(fd);
	if (r < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return;
	}
	pthread_mutex_lock(&c->disk_lock);
	c->disk_bytes += len;
	evict = c->disk_bytes > c->disk_max;
	if (evict)
		c->disk_bytes = 0; /* recounted by disk_evict; one evictor */
	pthread_mutex_unlock(&c->disk_lock);
	if (evict)
		disk_evict(c);
}

/* ---- loading ------------------------------------------------------------- */

/* true if id was loaded from the repository before (and forgotten since);
 * else remember that it was */
static bool seen_before(struct fs_chunk_cache *c, const struct drfs_id *id)
{
	uint64_t tag, slot;
	memcpy(&tag, id->b, sizeof(tag));
	memcpy(&slot, id->b + sizeof(tag), sizeof(slot));
	tag |= 1; /* 0 is an empty slot */
	slot %= SEEN_SLOTS;
	return atomic_exchange(&c->seen[slot], tag) == tag;
}

static int load(struct fs_chunk_cache *c, struct fs_chunk *ch)
{
	struct drfs_buf b;
	int r;

	if (c->dir && disk_read(c, &ch->id, ch) == 0)
		return 0;
	drfs_buf_init(&b, DRFS_BLOB_MAX);
	r = drfs_repo_blob_read(c->repo, &ch->id, &b);
	if (r < 0) {
		drfs_buf_release(&b);
		return r;
	}
	ch->data = drfs_buf_steal(&b, &ch->len);
	if (c->dir && ch->len && seen_before(c, &ch->id))
		disk_write(c, &ch->id, ch->data, ch->len);
	return 0;
}

/* the prefetch threads' chunk reads are not counted in reads, waited */
static _Thread_local bool prefetching;

int fs_cache_get(struct fs_chunk_cache *c, const struct drfs_id *id,
		 struct fs_chunk **ret)
{
	struct fs_chunk *ch;
	int r;

	pthread_mutex_lock(&c->lock);
	if (!prefetching)
		c->reads++;
	ch = lru_find(c, id);
	if (ch) {
		ch->refs++;
		lru_front(c, ch);
		if (ch->state == 0 && !prefetching)
			c->waited++;
		while (ch->state == 0)
			pthread_cond_wait(&c->loaded, &c->lock);
		r = ch->state < 0 ? ch->state : 0;
		if (r < 0)
			unref_locked(ch);
		pthread_mutex_unlock(&c->lock);
		if (r < 0)
			return r;
		*ret = ch;
		return 0;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	ch->cache = c;
	ch->id = *id;
	ch->refs = 2; /* the LRU's and ours */
	ch->in_lru = true;
	ch->next = c->head;
	if (c->head)
		c->head->prev = ch;
	else
		c->tail = ch;
	c->head = ch;
	c->n++;
	if (!prefetching)
		c->waited++;
	lru_evict(c);
	pthread_mutex_unlock(&c->lock);

	r = load(c, ch);

	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		ch->state = r;
		/* a later read tries again: the LRU's reference and ours go */
		int drop = 1;
		if (ch->in_lru) {
			lru_detach(c, ch);
			drop = 2;
		}
		ch->refs -= drop;
		if (ch->refs == 0)
			chunk_free(ch);
	} else {
		ch->state = 1;
		if (ch->in_lru) {
			c->bytes += ch->len;
			lru_evict(c);
		}
	}
	pthread_cond_broadcast(&c->loaded);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	*ret = ch;
	return 0;
}

void fs_cache_stats(struct fs_chunk_cache *c, uint64_t *ret_reads,
		    uint64_t *ret_waited)
{
	pthread_mutex_lock(&c->lock);
	*ret_reads = c->reads;
	*ret_waited = c->waited;
	pthread_mutex_unlock(&c->lock);
}

const uint8_t *fs_chunk_data(const struct fs_chunk *ch, size_t *ret_len)
{
	*ret_len = ch->len;
	return ch->data;
}

void fs_chunk_put(struct fs_chunk *ch)
{
	if (!ch)
		return;
	/* the cache outlives its chunks' readers (fs_cache_free is last) */
	struct fs_chunk_cache *c = ch->cache;
	pthread_mutex_lock(&c->lock);
	unref_locked(ch);
	pthread_mutex_unlock(&c->lock);
}

/* ---- prefetch ------------------------------------------------------------ */

void fs_cache_prefetch(struct fs_chunk_cache *c, const struct drfs_id *id)
{
	pthread_mutex_lock(&c->lock);
	if (c->n_threads == 0 || c->ring_n == PREFETCH_RING ||
	    lru_find(c, id))
		goto out;
	for (size_t i = 0; i < c->ring_n; i++)
		if (drfs_id_eq(&c->ring[(c->ring_head + i) % PREFETCH_RING],
			       id))
			goto out;
	c->ring[(c->ring_head + c->ring_n++) % PREFETCH_RING] = *id;
	pthread_cond_signal(&c->work);
out:
	pthread_mutex_unlock(&c->lock);
}

static void *prefetch_main(void *arg)
{
	pthread_setname_np(pthread_self(), "drfs-prefetch");
	struct fs_chunk_cache *c = arg;
	struct fs_chunk *ch;

	prefetching = true;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stop && c->ring_n == 0)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->stop)
			break;
		struct drfs_id id = c->ring[c->ring_head];
		c->ring_head = (c->ring_head + 1) % PREFETCH_RING;
		c->ring_n--;
		pthread_mutex_unlock(&c->lock);
		/* errors are reported when a reader asks for the chunk */
		if (fs_cache_get(c, &id, &ch) == 0)
			fs_chunk_put(ch);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- life cycle ---------------------------------------------------------- */

int fs_cache_new(struct drfs_repo *repo, uint64_t disk_bytes,
		 struct fs_chunk_cache **ret)
{
	struct fs_chunk_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->repo = repo;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->disk_lock, NULL);
	pthread_cond_init(&c->loaded, NULL);
	pthread_cond_init(&c->work, NULL);
	if (disk_bytes > 0 && repo->cache_dir) {
		char *dir = NULL;
		if (asprintf(&dir, "%s/chunks", repo->cache_dir) < 0) {
			fs_cache_free(c);
			return -ENOMEM;
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			free(dir); /* no disk level; memory still works */
		} else {
			c->dir = dir;
			c->disk_max = disk_bytes;
			disk_evict(c); /* counts what is there */
		}
	}
	for (int i = 0; i < PREFETCH_THREADS; i++) {
		if (pthread_create(&c->threads[i], NULL, prefetch_main, c))
			break;
		c->n_threads++;
	}
	*ret = c;
	return 0;
}

void fs_cache_free(struct fs_chunk_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->n_threads; i++)
		pthread_join(c->threads[i], NULL);
	while (c->head)
		lru_unlink(c, c->head);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->disk_lock);
	pthread_cond_destroy(&c->loaded);
	pthread_cond_destroy(&c->work);
	free(c->dir);
	free(c);
}
