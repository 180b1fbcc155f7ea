/* smimepub (internal): a pool of worker processes that run jobs and return results in order. */
#ifndef SMIMEPUB_WORKERS_H
#define SMIMEPUB_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "smimepub/error.h"

/*
 * Processes, not threads: OpenSSL 3.0 serialises parsing and verification on its store locks,
 * so threads add CPU without adding speed, while forked processes scale with the cores and
 * inherit everything loaded before the fork (the trust context).
 *
 * The parent submits jobs (opaque bytes); each goes to one worker over a socketpair, framed as
 * a 4-byte length and the bytes; the worker answers each job with one result framed the same
 * way. Results are handed back to the parent in submission order, whatever order the workers
 * finish in. At most `depth` jobs per worker are in flight, so memory stays bounded by the job
 * size and depth the caller chooses.
 */
typedef struct workers workers;

/*
 * In a worker: computes the result of one job of len bytes into *res / *res_len (malloc'd,
 * the pool frees it). Returns 0; non-zero makes the worker exit with a failure, which the
 * parent reports.
 */
typedef int (*workers_job_fn)(unsigned char **res, size_t *res_len, const unsigned char *job,
			      size_t len, void *ctx);

/* In the parent: one result, in submission order (borrowed for the call). Non-zero stops. */
typedef int (*workers_result_fn)(const unsigned char *res, size_t len, void *ctx);

/* Never more analysis processes than this, whatever --jobs says. */
#define WORKERS_MAX 8

/*
 * Forks n workers running job with job_ctx (which they inherit as it is at the fork), each with
 * up to depth jobs in flight (queued to it, or done and not yet handed back). Flushes stdout
 * and stderr first. Returns 0 and a pool, or SMP_ERR_INTERNAL / SMP_ERR_NOMEM.
 */
int workers_start(workers **out, int n, int depth, workers_job_fn job, void *job_ctx,
		  smp_error *err);

/*
 * Sends one job (copied). Hands the oldest result to on_result first when it is finished, and
 * while waiting for room, so every job submitted takes the place of one handed back: the
 * workers keep as much queued as the pool holds while on_result works. Returns 0, on_result's
 * non-zero value, or SMP_ERR_INTERNAL with err set when a worker died or a socket failed.
 */
int workers_submit(workers *w, const unsigned char *job, size_t len, workers_result_fn on_result,
		   void *ctx, smp_error *err);

/*
 * Reads whatever results the workers have sent, without waiting and without handing any back
 * (results stay queued for workers_submit / workers_drain). For a parent busy with other work
 * between submissions: a worker whose finished results are read is never held up by a full
 * socket. Returns 0, or SMP_ERR_INTERNAL with err set when a worker died.
 */
int workers_pump(workers *w, smp_error *err);

/* Waits for every job submitted so far and hands its result to on_result, in order. */
int workers_drain(workers *w, workers_result_fn on_result, void *ctx, smp_error *err);

/*
 * Closes the workers' sockets, waits for them to exit and frees the pool (NULL is fine).
 * Returns 0, or SMP_ERR_INTERNAL with err set when a worker did not exit cleanly.
 */
int workers_stop(workers *w, smp_error *err);

/*
 * Directory entries handed to a pool in batches (audit and prune walk the directory this way).
 * A batch is a job: the number of entries, the header string (NULL allowed), then each entry
 * in buf_entry's encoding; the job function reads them back with entry_batch_read.
 */
struct entry_batches {
	workers *pool;
	workers_result_fn on_result;
	void *ctx;                 /* for on_result */
	const char *header;        /* borrowed: goes at the start of every batch */
	struct buf batch;          /* entries not yet handed to a worker */
	size_t n;                  /* entries in batch */
	int failed;                /* a worker died or reported an error: submit nothing more */
};

/* Adds e to the batch and submits the batch when it is full. Returns 0 or an error in err. */
int entry_batches_add(struct entry_batches *b, const smp_entry *e, smp_error *err);

/*
 * Submits what is batched, then waits for every result and hands it to on_result, in order.
 * Returns 0 or an error in err (nothing when a worker failed before).
 */
int entry_batches_sync(struct entry_batches *b, smp_error *err);

/* Frees the batch buffer (the pool is the caller's). */
void entry_batches_release(struct entry_batches *b);

/* In a worker: the entry count and header of a batch job, before its entries (rd_entry). */
uint32_t entry_batch_read(struct rd *r, const char **header);

/* Online CPUs, at least 1. */
int workers_cpus(void);

/*
 * How many analysis processes --jobs N gives: N, but never more than the online CPUs nor
 * WORKERS_MAX. 1 means: analyse in the parent.
 */
int workers_count(int jobs);

#endif
