/* smimepub command line: a pool of worker processes that run jobs and return results in order. */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FRAME_MAX (1u << 30)

struct slot {
	unsigned char *res;     /* result, once it arrived */
	size_t len;
	int done;
};

struct worker {
	pid_t pid;
	int fd;                 /* parent's end, non-blocking */
	size_t *queue;          /* slot numbers of its jobs (up to depth), oldest first */
	size_t n_queued;
	unsigned char hdr[4];   /* receiving: length, then body */
	size_t hdr_got;
	unsigned char *body;
	size_t body_len, body_got;
};

struct workers {
	struct worker *w;
	int n;
	size_t depth;           /* jobs in flight per worker */
	size_t *queues;         /* every worker's queue, depth entries each */
	struct slot *slots;     /* ring of jobs in submission order */
	size_t cap, head, count; /* head: oldest job not yet handed back */
	struct pollfd *pfd;
};

/* Online CPUs, at least 1. */
int workers_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* Analysis processes for --jobs N (see workers.h). */
int workers_count(int jobs)
{
	int n = workers_cpus();

	if (jobs < n)
		n = jobs;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	return n < 1 ? 1 : n;
}

/* ---- In a worker -------------------------------------------------------------------------- */

/* Reads exactly len bytes; returns 1, 0 at end of file before the first byte, -1 on error. */
static int read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n == 0 && got > 0))
			return -1;
		if (n == 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

static int write_full(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A worker's life: job in, result out, until the parent closes the socket. Never returns. */
static void worker_main(int fd, workers_job_fn job, void *ctx)
{
	unsigned char hdr[4], *buf = NULL, *res;
	size_t res_len;
	uint32_t len;
	int r, status = 1;

	for (;;) {
		r = read_full(fd, hdr, sizeof(hdr));
		if (r == 0) {
			status = 0;
			break;
		}
		memcpy(&len, hdr, sizeof(len));
		if (r < 0 || len > FRAME_MAX)
			break;
		free(buf);
		if ((buf = malloc(len + 1u)) == NULL || read_full(fd, buf, len) <= 0)
			break;
		res = NULL;
		res_len = 0;
		if (job(&res, &res_len, buf, len, ctx) != 0 || res_len > FRAME_MAX) {
			free(res);
			break;
		}
		len = (uint32_t)res_len;
		memcpy(hdr, &len, sizeof(len));
		r = write_full(fd, hdr, sizeof(hdr)) == 0 && write_full(fd, res, res_len) == 0;
		free(res);
		if (!r)
			break;
	}
	free(buf);
	close(fd);
	_exit(status);
}

/* ---- In the parent ------------------------------------------------------------------------ */

/* Why worker i is gone, as a message in err (reaps it). */
static int worker_died(workers *w, int i, smp_error *err)
{
	int status = 0;
	pid_t pid = w->w[i].pid;

	if (pid > 0 && waitpid(pid, &status, 0) == pid) {
		w->w[i].pid = 0;
		if (WIFSIGNALED(status))
			return smp_error_set(err, SMP_ERR_INTERNAL,
					     "analysis worker %ld was killed by signal %d (%s)",
					     (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			return smp_error_set(err, SMP_ERR_INTERNAL,
					     "analysis worker %ld failed (exit status %d)", (long)pid,
					     WEXITSTATUS(status));
	}
	return smp_error_set(err, SMP_ERR_INTERNAL, "analysis worker %ld stopped unexpectedly",
			     (long)pid);
}

/* Reads what worker i has sent; completes its oldest job when a whole result is in. */
static int worker_read(workers *w, int i, smp_error *err)
{
	struct worker *k = &w->w[i];
	ssize_t n;
	uint32_t len;

	for (;;) {
		if (k->hdr_got < sizeof(k->hdr))
			n = read(k->fd, k->hdr + k->hdr_got, sizeof(k->hdr) - k->hdr_got);
		else
			n = read(k->fd, k->body + k->body_got, k->body_len - k->body_got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return worker_died(w, i, err);
		if (k->hdr_got < sizeof(k->hdr)) {
			k->hdr_got += (size_t)n;
			if (k->hdr_got < sizeof(k->hdr))
				continue;
			memcpy(&len, k->hdr, sizeof(len));
			if (len > FRAME_MAX || k->n_queued == 0)
				return smp_error_set(err, SMP_ERR_INTERNAL,
						     "analysis worker %ld sent an unexpected result",
						     (long)k->pid);
			k->body_len = len;
			k->body_got = 0;
			if ((k->body = malloc(len + 1u)) == NULL)
				return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		} else {
			k->body_got += (size_t)n;
		}
		if (k->hdr_got == sizeof(k->hdr) && k->body_got == k->body_len) {
			struct slot *s = &w->slots[k->queue[0]];

			s->res = k->body;
			s->len = k->body_len;
			s->done = 1;
			k->body = NULL;
			k->hdr_got = 0;
			memmove(k->queue, k->queue + 1, (k->n_queued - 1) * sizeof(k->queue[0]));
			k->n_queued--;
		}
	}
}

/*
 * Waits until a worker has something to read (or, with out_fd >= 0, until it can be written),
 * at most timeout_ms (-1: no limit), and reads what came.
 */
static int poll_once(workers *w, int out_fd, int *writable, int timeout_ms, smp_error *err)
{
	int n = 0, r;

	for (int i = 0; i < w->n; i++) {
		w->pfd[n].fd = w->w[i].fd;
		w->pfd[n].events = POLLIN;
		w->pfd[n].revents = 0;
		n++;
	}
	if (out_fd >= 0) {
		w->pfd[n].fd = out_fd;
		w->pfd[n].events = POLLOUT;
		w->pfd[n].revents = 0;
		n++;
	}
	do
		r = poll(w->pfd, (nfds_t)n, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return smp_error_set(err, SMP_ERR_INTERNAL, "cannot wait for the analysis workers: %s",
				     strerror(errno));
	for (int i = 0; i < w->n; i++)
		if (w->pfd[i].revents != 0 && (r = worker_read(w, i, err)) != 0)
			return r;
	if (writable != NULL)
		*writable = out_fd >= 0 && w->pfd[w->n].revents != 0;
	return 0;
}

/* Hands up to max finished jobs at the head of the ring to on_result, in order. */
static int deliver(workers *w, size_t max, workers_result_fn on_result, void *ctx)
{
	int r;

	for (size_t k = 0; k < max && w->count > 0 && w->slots[w->head].done; k++) {
		struct slot *s = &w->slots[w->head];

		r = on_result(s->res, s->len, ctx);
		free(s->res);
		memset(s, 0, sizeof(*s));
		w->head = (w->head + 1) % w->cap;
		w->count--;
		if (r != 0)
			return r;
	}
	return 0;
}

/* Writes all of buf to worker i, reading from every worker while its socket is full. */
static int send_all(workers *w, int i, const unsigned char *buf, size_t len, smp_error *err)
{
	int writable = 1, r;
	ssize_t n;

	while (len > 0) {
		if (!writable && (r = poll_once(w, w->w[i].fd, &writable, -1, err)) != 0)
			return r;
		n = send(w->w[i].fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			writable = 0;
			continue;
		}
		if (n <= 0)
			return worker_died(w, i, err);
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* See workers.h. */
int workers_start(workers **out, int n, int depth, workers_job_fn job, void *job_ctx,
		  smp_error *err)
{
	workers *w = NULL;
	int sv[2], r = SMP_ERR_INTERNAL;
	pid_t pid;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->w = calloc((size_t)n, sizeof(*w->w))) == NULL ||
	    (w->pfd = calloc((size_t)n + 1, sizeof(*w->pfd))) == NULL ||
	    (w->slots = calloc((size_t)n * (size_t)depth, sizeof(*w->slots))) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	w->depth = (size_t)depth;
	w->cap = (size_t)n * w->depth;
	if ((w->queues = calloc(w->cap, sizeof(*w->queues))) == NULL) {
		r = smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/*
	 * Jobs and results are buffers of a few hundred KiB, allocated and freed over and over:
	 * with glibc's defaults each free gives the top of the heap back (brk) and the next
	 * malloc faults it in again, which costs more system time than the work in a VM.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < n; i++) {
		w->w[i].fd = -1;
		w->w[i].queue = w->queues + (size_t)i * w->depth;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
			r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot create a socket pair: %s",
					  strerror(errno));
			goto out;
		}
		if ((pid = fork()) < 0) {
			r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot start an analysis worker: %s",
					  strerror(errno));
			close(sv[0]);
			close(sv[1]);
			goto out;
		}
		if (pid == 0) {
			for (int k = 0; k < i; k++)
				close(w->w[k].fd);
			close(sv[0]);
			signal(SIGPIPE, SIG_DFL);
			worker_main(sv[1], job, job_ctx);
		}
		close(sv[1]);
		w->w[i].pid = pid;
		w->w[i].fd = sv[0];
		w->n = i + 1;
		if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) != 0) {
			r = smp_error_set(err, SMP_ERR_INTERNAL, "cannot set up a worker socket: %s",
					  strerror(errno));
			goto out;
		}
	}
	*out = w;
	w = NULL;
	r = 0;
out:
	if (w != NULL)
		workers_stop(w, NULL);
	return r;
}

/* See workers.h. */
int workers_submit(workers *w, const unsigned char *job, size_t len, workers_result_fn on_result,
		   void *ctx, smp_error *err)
{
	unsigned char hdr[4];
	uint32_t len32 = (uint32_t)len;
	int best, r;

	if (len > FRAME_MAX)
		return smp_error_set(err, SMP_ERR_INTERNAL, "job of %zu bytes is too large", len);
	for (;;) {
		/*
		 * One result per job submitted: the ring stays full, so the workers have the most
		 * work queued while on_result runs (a caller may do long work there)
		 */
		if ((r = deliver(w, 1, on_result, ctx)) != 0)
			return r;
		best = -1;
		for (int i = 0; i < w->n; i++)
			if (w->w[i].n_queued < w->depth &&
			    (best < 0 || w->w[i].n_queued < w->w[best].n_queued))
				best = i;
		if (best >= 0 && w->count < w->cap)
			break;
		if ((r = poll_once(w, -1, NULL, -1, err)) != 0)
			return r;
	}
	memcpy(hdr, &len32, sizeof(hdr));
	w->w[best].queue[w->w[best].n_queued++] = (w->head + w->count) % w->cap;
	w->count++;
	if ((r = send_all(w, best, hdr, sizeof(hdr), err)) != 0 ||
	    (r = send_all(w, best, job, len, err)) != 0)
		return r;
	return 0;
}

/* See workers.h. */
int workers_pump(workers *w, smp_error *err)
{
	return w->count > 0 ? poll_once(w, -1, NULL, 0, err) : 0;
}

/* See workers.h. */
int workers_drain(workers *w, workers_result_fn on_result, void *ctx, smp_error *err)
{
	int r;

	for (;;) {
		if ((r = deliver(w, SIZE_MAX, on_result, ctx)) != 0)
			return r;
		if (w->count == 0)
			return 0;
		if ((r = poll_once(w, -1, NULL, -1, err)) != 0)
			return r;
	}
}

/* See workers.h. */
int workers_stop(workers *w, smp_error *err)
{
	int r = 0, status;

	if (w == NULL)
		return 0;
	for (int i = 0; i < w->n; i++)
		if (w->w[i].fd >= 0)
			close(w->w[i].fd);
	for (int i = 0; i < w->n; i++) {
		pid_t pid = w->w[i].pid;

		free(w->w[i].body);
		if (pid <= 0)
			continue;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (r == 0 && WIFSIGNALED(status))
			r = smp_error_set(err, SMP_ERR_INTERNAL,
					  "analysis worker %ld was killed by signal %d (%s)", (long)pid,
					  WTERMSIG(status), strsignal(WTERMSIG(status)));
		else if (r == 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
			r = smp_error_set(err, SMP_ERR_INTERNAL,
					  "analysis worker %ld failed (exit status %d)", (long)pid,
					  WEXITSTATUS(status));
	}
	for (size_t i = 0; i < w->cap; i++)
		free(w->slots[i].res);
	free(w->slots);
	free(w->queues);
	free(w->pfd);
	free(w->w);
	free(w);
	return r;
}

/* ---- entries in batches ------------------------------------------------------------------ */

/* Entries per batch, or bytes: enough to keep a worker busy for a while, little enough to
 * keep the output flowing. */
#define BATCH_ENTRIES 64
#define BATCH_BYTES (256 * 1024)

static int entry_batches_flush(struct entry_batches *b, smp_error *err)
{
	int r;

	if (b->n == 0)
		return 0;
	if (b->batch.failed) {  /* then b->batch.p may be NULL: the count has nowhere to go */
		b->failed = 1;
		return smp_error_set(err, SMP_ERR_NOMEM, "out of memory");
	}
	memcpy(b->batch.p, &(uint32_t){ (uint32_t)b->n }, sizeof(uint32_t));
	r = workers_submit(b->pool, b->batch.p, b->batch.len, b->on_result, b->ctx, err);
	b->batch.len = 0;
	b->n = 0;
	b->failed = r != 0;
	return r;
}

/* See workers.h. */
int entry_batches_add(struct entry_batches *b, const smp_entry *e, smp_error *err)
{
	if (b->n == 0) {
		buf_u32(&b->batch, 0);  /* the count, set by entry_batches_flush */
		buf_str(&b->batch, b->header);
	}
	buf_entry(&b->batch, e);
	b->n++;
	if (b->n < BATCH_ENTRIES && b->batch.len < BATCH_BYTES && !b->batch.failed)
		return 0;
	return entry_batches_flush(b, err);
}

/* See workers.h. */
int entry_batches_sync(struct entry_batches *b, smp_error *err)
{
	int r;

	if (b->pool == NULL || b->failed)
		return 0;
	if ((r = entry_batches_flush(b, err)) != 0)
		return r;
	r = workers_drain(b->pool, b->on_result, b->ctx, err);
	b->failed = r != 0;
	return r;
}

/* See workers.h. */
void entry_batches_release(struct entry_batches *b)
{
	free(b->batch.p);
	memset(&b->batch, 0, sizeof(b->batch));
	b->n = 0;
}

/* See workers.h. */
uint32_t entry_batch_read(struct rd *r, const char **header)
{
	uint32_t n = rd_u32(r);

	*header = rd_str(r);
	return n;
}
