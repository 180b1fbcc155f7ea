/*
 * smimepub engine: publishing files (SPEC §4): each input read and analysed (in worker
 * processes when there are many), then published through the pipeline in chunks, results in
 * input order.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "pipeline.h"
#include "frame.h"
#include "workers.h"

/*
 * What intake_path hands over for each leaf of an input: its DER (borrowed) and its analysis
 * (taken), or, with ci NULL, why the input or the leaf could not be read (err). Non-zero stops.
 */
typedef int (*intake_fn)(void *ctx, const char *path, const unsigned char *der, size_t len,
			 smp_certinfo *ci, const smp_error *err);

/*
 * Reads the input at path and analyses each leaf with the whole bundle as intermediates,
 * handing each outcome to fn (see intake_fn). Returns 0 or fn's first non-zero value.
 */
static int intake_path(const char *path, const smp_trust *trust, intake_fn fn, void *ctx)
{
	unsigned char *data = NULL, *der = NULL;
	size_t len = 0;
	smp_bundle *bu = NULL;
	smp_error err = SMP_ERROR_INIT;
	int r = 0, dlen;

	if (smp_read_file(&data, &len, path, SMP_MAX_INPUT, &err) != 0)
		return fn(ctx, path, NULL, 0, NULL, &err);
	if (smp_bundle_read(&bu, data, len, &err) != 0) {
		char why[SMP_ERROR_MSG_MAX];

		memcpy(why, err.msg, sizeof(why));
		smp_error_set(&err, err.code, "cannot read '%s': %s", path, why);
		r = fn(ctx, path, NULL, 0, NULL, &err);
		goto out;
	}
	for (size_t i = 0; i < smp_bundle_leaf_count(bu) && r == 0; i++) {
		X509 *leaf = smp_bundle_leaf(bu, i);
		smp_certinfo *ci = NULL;

		if ((dlen = i2d_X509(leaf, &der)) <= 0) {
			smp_error_openssl(&err, SMP_ERR_BADINPUT,
					  "cannot encode the certificate in '%s'", path);
			r = fn(ctx, path, NULL, 0, NULL, &err);
			continue;
		}
		if (smp_cert_analyze_encoded(&ci, leaf, smp_bundle_all(bu), der, (size_t)dlen, trust,
					     &err) != 0)
			r = fn(ctx, path, NULL, 0, NULL, &err);
		else
			r = fn(ctx, path, der, (size_t)dlen, ci, NULL);
		OPENSSL_free(der);
		der = NULL;
	}
out:
	smp_bundle_free(bu);
	free(data);
	return r;
}

/* A record for an input that could not be read at all. */
static void report_unreadable(smp_session *c, const char *path, const smp_error *err)
{
	struct pub_result res;
	int status = smp_exit_status(err->code);

	memset(&res, 0, sizeof(res));
	if (err->code == SMP_ERR_CANCELLED) {
		pub_failure(&res, err->code, err->msg);
	} else {
		res.action = "failed";
		res.reason = status == 66 ? "file_not_found" : "unreadable";
		res.status = status;
		res.message = strdup(err->msg);
	}
	pub_report(c, &res, NULL, path, c->pub->on_item, c->pub->ctx);
	pub_result_release(&res);
}

/*
 * Publishes one certificate the one-at-a-time way and reports it; der is borrowed, ci taken
 * when take_ci (else the caller's).
 */
static int publish_one(smp_session *c, const unsigned char *der, size_t len, smp_certinfo *ci,
		       int take_ci, const char *source)
{
	struct pub_item it;
	int r;

	memset(&it, 0, sizeof(it));
	it.source = source;
	it.der = (unsigned char *)der;
	it.len = len;
	it.ci = ci;
	if ((r = pub_one(c, &it)) != 0)
		pub_failure(&it.p.res, r, "out of memory");
	pub_report(c, &it.p.res, ci, source, c->pub->on_item, c->pub->ctx);
	it.der = NULL;  /* the caller's */
	if (!take_ci)
		it.ci = NULL;
	pub_item_release(&it);
	return r;
}

/* intake_fn of the one-by-one path: publishes the leaf (or reports the input) at once. */
static int publish_leaf(void *ctx, const char *path, const unsigned char *der, size_t len,
			smp_certinfo *ci, const smp_error *err)
{
	smp_session *c = ctx;

	if (ci == NULL) {
		report_unreadable(c, path, err);
		return 0;
	}
	return publish_one(c, der, len, ci, 1, path);
}

/* ---- bulk: many inputs, directory work overlapped (pub_bulk) ---------------------------- */

#define BULK_CHUNK 1000        /* certificates held and handed to pub_bulk at once */
#define JOB_PATHS 64           /* inputs per analysis job */
#define WORKERS_MIN_INPUTS 64  /* fewer inputs are analysed here: the forks would cost more */
#define PUMP_INTERVAL 0.001    /* s between reads of the workers' results during pub_bulk */

struct bulk {
	smp_session *c;
	const char *const *paths;
	size_t npaths;
	struct pub_item *items;
	size_t n;
	size_t done;              /* certificates finished in earlier chunks */
	int nomem;
	/* with analysis workers */
	workers *pool;
	size_t delivered;         /* inputs whose analysis came back (a prefix of in->paths) */
	double next_pump;         /* when bulk_idle reads the workers' results again */
	int pool_failed;          /* a worker died while pub_bulk ran: err says which */
	smp_error err;
};

/*
 * An analysis job in a worker: the inputs to read (a count, then the paths) and, while it
 * runs, the result: a count of inputs, a count of records, then per leaf (or per input that
 * could not be read) a record: index of the input in the job, kind, then the DER and the
 * analysis (REC_LEAF) or the error code and message (REC_FAILED).
 */
struct bulk_job {
	const smp_trust *trust;
	struct buf out;
	uint32_t idx;             /* input being read */
	uint32_t records;
};

enum { REC_FAILED = 0, REC_LEAF = 1 };

static struct pub_item *bulk_next(struct bulk *b, const char *path)
{
	struct pub_item *it = &b->items[b->n++];

	memset(it, 0, sizeof(*it));
	it->source = path;
	return it;
}

static void bulk_flush(struct bulk *b)
{
	if (b->n == 0)
		return;
	b->c->done_before = b->done;
	if (pub_bulk(b->c, b->items, b->n, NULL, NULL) != 0) {
		pub_note_status(b->c, 1);
		b->nomem = 1;
	}
	b->done += b->n;
	b->n = 0;
}

/* Adds an input (or leaf) that could not be read: its result is final. */
static void bulk_unreadable(struct bulk *b, const char *path, int code, const char *msg)
{
	struct pub_item *it = bulk_next(b, path);
	int status = smp_exit_status(code);

	it->p.res.action = "failed";
	it->p.res.reason = status == 66 ? "file_not_found" : "unreadable";
	it->p.res.status = status;
	it->p.res.message = strdup(msg);
	if (b->n == BULK_CHUNK)
		bulk_flush(b);
}

/* Adds a leaf: der copied, ci taken. */
static void bulk_leaf(struct bulk *b, const char *path, const unsigned char *der, size_t len,
		      smp_certinfo *ci)
{
	struct pub_item *it = bulk_next(b, path);

	it->ci = ci;
	it->len = len;
	if ((it->der = malloc(len > 0 ? len : 1)) != NULL)
		memcpy(it->der, der, len);
	if (it->der == NULL) {
		smp_certinfo_free(ci);
		it->ci = NULL;
		pub_failure(&it->p.res, SMP_ERR_NOMEM, "out of memory");
	}
	if (b->n == BULK_CHUNK)
		bulk_flush(b);
}

/* intake_fn of the in-process bulk path. */
static int bulk_take(void *ctx, const char *path, const unsigned char *der, size_t len,
		     smp_certinfo *ci, const smp_error *err)
{
	struct bulk *b = ctx;

	if (ci == NULL)
		bulk_unreadable(b, path, err->code, err->msg);
	else
		bulk_leaf(b, path, der, len, ci);
	return b->nomem;
}

/* intake_fn in a worker: appends the leaf's (or the input's) record to the job's result. */
static int job_take(void *ctx, const char *path, const unsigned char *der, size_t len,
		    smp_certinfo *ci, const smp_error *err)
{
	struct bulk_job *j = ctx;

	buf_u32(&j->out, j->idx);
	if (ci == NULL) {
		buf_u32(&j->out, REC_FAILED);
		buf_u32(&j->out, (uint32_t)(int32_t)err->code);
		buf_str(&j->out, err->msg);
	} else {
		buf_u32(&j->out, REC_LEAF);
		buf_bytes(&j->out, der, len);
		buf_certinfo(&j->out, ci);
		smp_certinfo_free(ci);
	}
	j->records++;
	return j->out.failed ? SMP_ERR_NOMEM : 0;
}

/* In a worker: reads and analyses one job's inputs (see struct bulk_job). */
static int bulk_job(unsigned char **res, size_t *res_len, const unsigned char *job, size_t len,
		    void *ctx)
{
	struct bulk_job *j = ctx;
	struct rd in = { job, len, 0, 0 };
	uint32_t n = rd_u32(&in);
	const char *path;
	int r = 0;

	memset(&j->out, 0, sizeof(j->out));
	j->records = 0;
	buf_u32(&j->out, n);
	buf_u32(&j->out, 0);  /* the records, counted below */
	for (j->idx = 0; j->idx < n && r == 0; j->idx++) {
		if ((path = rd_str(&in)) == NULL)
			r = SMP_ERR_INTERNAL;
		else
			r = intake_path(path, j->trust, job_take, j);
	}
	if (r == 0 && j->out.failed)
		r = SMP_ERR_NOMEM;
	if (r != 0) {
		free(j->out.p);
		return r;
	}
	memcpy(j->out.p + sizeof(uint32_t), &j->records, sizeof(uint32_t));
	*res = j->out.p;
	*res_len = j->out.len;
	return 0;
}

/* In the parent: one job's result, in input order: its leaves join the chunk. */
static int bulk_result(const unsigned char *res, size_t len, void *ctx)
{
	struct bulk *b = ctx;
	struct rd in = { res, len, 0, 0 };
	uint32_t n = rd_u32(&in), records = rd_u32(&in);
	size_t base = b->delivered;

	if (in.bad || n > b->npaths - base)
		goto damaged;
	b->delivered += n;
	for (uint32_t i = 0; i < records && !b->nomem; i++) {
		uint32_t idx = rd_u32(&in), kind = rd_u32(&in);
		const char *path = idx < n ? b->paths[base + idx] : NULL;

		if (in.bad || path == NULL)
			goto damaged;
		if (kind == REC_FAILED) {
			int code = (int)(int32_t)rd_u32(&in);
			const char *msg = rd_str(&in);

			if (in.bad || msg == NULL)
				goto damaged;
			bulk_unreadable(b, path, code, msg);
		} else {
			smp_certinfo *ci = NULL;
			size_t dlen;
			const char *der = rd_bytes(&in, &dlen);
			int r;

			if (der == NULL)
				goto damaged;
			if ((r = rd_certinfo(&in, &ci)) == SMP_ERR_NOMEM)
				return smp_error_set(&b->err, r, "out of memory");
			if (r != 0)
				goto damaged;
			bulk_leaf(b, path, (const unsigned char *)der, dlen, ci);
		}
	}
	if (b->nomem)
		return SMP_ERR_NOMEM;
	return b->pool_failed ? SMP_ERR_INTERNAL : 0;
damaged:
	return smp_error_set(&b->err, SMP_ERR_INTERNAL, "an analysis worker sent a damaged result");
}

/* c->idle during pub_bulk: reads the workers' finished results, so none waits to send. */
static void bulk_idle(void *ctx)
{
	struct bulk *b = ctx;
	struct timespec ts;
	double now;

	if (b->pool_failed || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return;
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (now < b->next_pump)
		return;
	b->next_pump = now + PUMP_INTERVAL;
	if (workers_pump(b->pool, &b->err) != 0)
		b->pool_failed = 1;
}

/*
 * Hands the inputs to the workers, JOB_PATHS at a time; their results come back in order
 * (bulk_result), and pub_bulk runs on each full chunk while the workers go on with the next
 * jobs. Returns 0, or an error (in b->err unless it is b->nomem).
 */
static int bulk_in_workers(struct bulk *b)
{
	struct buf job = { 0 };
	uint32_t k;
	int r = 0;

	b->c->idle = bulk_idle;
	b->c->idle_ctx = b;
	/* asked to stop: no more inputs handed out; publish_bulk reports the rest */
	for (size_t i = 0; i < b->npaths && r == 0 && !pub_cancelled(b->c);) {
		job.len = 0;
		buf_u32(&job, 0);  /* the count, set below */
		for (k = 0; i < b->npaths && k < JOB_PATHS; i++, k++)
			buf_str(&job, b->paths[i]);
		if (job.failed) {
			r = smp_error_set(&b->err, SMP_ERR_NOMEM, "out of memory");
			break;
		}
		memcpy(job.p, &k, sizeof(k));
		r = workers_submit(b->pool, job.p, job.len, bulk_result, b, &b->err);
	}
	if (r == 0)
		r = workers_drain(b->pool, bulk_result, b, &b->err);
	b->c->idle = NULL;
	b->c->idle_ctx = NULL;
	free(job.p);
	return r;
}

/*
 * Publishes every input in chunks of BULK_CHUNK certificates through pub_bulk; the analysis
 * runs in pool's workers when there is one, else here.
 */
static int publish_bulk(smp_session *c, const char *const *paths, size_t n, workers *pool,
			smp_error *err)
{
	struct bulk b;
	int r = 0;

	memset(&b, 0, sizeof(b));
	b.c = c;
	b.paths = paths;
	b.npaths = n;
	b.pool = pool;
	if ((b.items = calloc(BULK_CHUNK, sizeof(*b.items))) == NULL)
		return smp_error_set(err, SMP_ERR_NOMEM, "cannot publish: out of memory");
	if (pool != NULL) {
		r = bulk_in_workers(&b);
	} else {
		for (; b.delivered < n && !b.nomem && !pub_cancelled(c); b.delivered++)
			intake_path(paths[b.delivered], c->trust, bulk_take, &b);
	}
	/* asked to stop: each input not read is an item too, after those read before it */
	for (size_t i = b.delivered; r == 0 && pub_cancelled(c) && i < n && !b.nomem; i++) {
		struct pub_item *it = bulk_next(&b, paths[i]);

		pub_failure(&it->p.res, SMP_ERR_CANCELLED, "not done: the operation was "
			    "interrupted before this input was read");
		if (b.n == BULK_CHUNK)
			bulk_flush(&b);
	}
	/* what was analysed goes on, also when a worker failed: records stay in input order */
	bulk_flush(&b);
	if (b.nomem)
		r = smp_error_set(err, SMP_ERR_NOMEM, "cannot publish: out of memory");
	else if (r != 0)
		r = smp_error_set(err, SMP_ERR_INTERNAL,
				  "publish stopped: %s; %zu of %zu inputs were not published",
				  b.err.msg[0] ? b.err.msg : "unknown error", n - b.delivered, n);
	for (size_t i = 0; i < b.n; i++)
		pub_item_release(&b.items[i]);
	free(b.items);
	return r;
}

/*
 * The analysis workers for a bulk publish of n inputs: workers_count(jobs) processes, each
 * with enough jobs queued that the pool holds two chunks of work, so the next chunk is
 * analysed while pub_bulk works on this one. NULL (analyse here) for one CPU, jobs 1, a dry
 * run (one by one), few inputs, or when they cannot be started.
 */
static workers *bulk_workers(smp_session *c, size_t n, struct bulk_job *job)
{
	workers *pool = NULL;
	smp_error err = SMP_ERROR_INIT;
	int count = workers_count(c->pub->jobs > 0 ? c->pub->jobs : SMP_DEFAULT_JOBS), depth;

	if (c->o.dry_run || n < WORKERS_MIN_INPUTS || count < 2)
		return NULL;
	depth = (2 * BULK_CHUNK + count * JOB_PATHS - 1) / (count * JOB_PATHS);
	if (depth < 4)
		depth = 4;
	if (workers_start(&pool, count, depth, bulk_job, job, &err) != 0) {
		pub_notice(c, "%s: analysing certificates in this process", err.msg);
		return NULL;
	}
	return pool;
}

int smp_publish_paths(smp_session *c, const smp_publish_options *opts,
		      const char *const *paths, size_t n, smp_error *err)
{
	struct bulk_job job;
	workers *pool = NULL;
	smp_error werr = SMP_ERROR_INIT;
	int r = 0;

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "publish options of an unknown version");
	memset(&job, 0, sizeof(job));
	/* a server that goes away mid-write must be an error to reconnect from, not SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	c->pub = opts;
	c->total = n;
	c->done_before = 0;
	smp_window_init(&c->win, opts->jobs > 0 ? (unsigned)opts->jobs : 0, smp_window_clock());
	if (n > 1) {  /* chunks, also in a dry run: the run decides between its inputs */
		job.trust = c->trust;
		pool = bulk_workers(c, n, &job);
		r = publish_bulk(c, paths, n, pool, err);
		if (workers_stop(pool, &werr) != 0 && r == 0 && c->status == 0)
			r = smp_error_set(err, SMP_ERR_INTERNAL, "%s", werr.msg);
	} else {
		for (size_t i = 0; i < n; i++) {
			if (pub_cancelled(c)) {
				smp_error cerr = SMP_ERROR_INIT;

				smp_error_set(&cerr, SMP_ERR_CANCELLED, "not done: the operation "
					      "was interrupted before this input was read");
				report_unreadable(c, paths[i], &cerr);
				continue;
			}
			intake_path(paths[i], c->trust, publish_leaf, c);
			pub_progress(c, i + 1);
		}
	}
	c->pub = NULL;
	return r;
}

int smp_publish_certificate(smp_session *c, const smp_publish_options *opts,
			    const unsigned char *der, size_t len, smp_certinfo *ci,
			    const char *source, smp_error *err)
{
	int r;

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "publish options of an unknown version");
	signal(SIGPIPE, SIG_IGN);
	c->pub = opts;
	smp_window_init(&c->win, opts->jobs > 0 ? (unsigned)opts->jobs : 0, smp_window_clock());
	r = publish_one(c, der, len, ci, 0, source);
	c->pub = NULL;
	return r != 0 ? smp_error_set(err, r, "out of memory") : 0;
}
