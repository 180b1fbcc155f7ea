/*
 * How many directory operations a pipeline keeps in flight (internal to the library).
 *
 * A fixed number is wrong on every network but one: 8 in flight across a 10 ms round trip
 * caps a run at 800 operations/s whatever the server could do, while 256 in flight against a
 * local server only queues requests inside it. smp_window finds the number from what the
 * operations themselves show, the way BBR does for TCP: per round (one window of
 * completions, at least SMP_WINDOW_ROUND_NS long),
 *
 *   rate  = completions / time with something in flight           (what the server delivers)
 *   delay = integral of in-flight over time / completions          (Little's law: time per op)
 *
 * Startup doubles the window each round while the rate grows by at least a quarter, and ends
 * after two rounds without such growth. From then on the window is twice the bandwidth-delay
 * product, 2 x max(rate over the last 16 rounds) x min(delay), so it covers the round trip
 * with room for the pauses between batches, and no more: against a server that is already
 * the bottleneck, more in flight raises the delay, not the rate, and the product stays put.
 * The minimum delay is measured again every SMP_WINDOW_PROBE_ROUNDS rounds with the window at
 * its floor for two rounds (the first drains the queue), so a longer path is noticed.
 *
 * A busy server (LDAP busy, unavailable, unwilling to perform, time or admin limit exceeded),
 * a timeout or a lost connection halves the window, at most once per round, and sets a ceiling
 * there that grows by an eighth per round without trouble. The window never exceeds max (the
 * hard bound: SMP_WINDOW_MAX unless the user gave one) and never goes below 1.
 *
 * Pure: no I/O, no clock; the caller passes CLOCK_MONOTONIC nanoseconds.
 */
#ifndef SMP_EXEC_WINDOW_H
#define SMP_EXEC_WINDOW_H

#include <stdint.h>
#include <time.h>

/*
 * The hard bound without --jobs: 256 requests of a few KB (a modify carries a certificate) is
 * about 1 MB in the server's receive buffers, well under Active Directory's MaxReceiveBuffer
 * (10 MB) and OpenLDAP's olcConnMaxPendingAuth (1,000); and it covers a bandwidth-delay
 * product of 25,000 operations/s at 10 ms, more than a single-writer directory delivers.
 */
#define SMP_WINDOW_MAX 256
#define SMP_WINDOW_START 8
#define SMP_WINDOW_ROUND_NS 2000000       /* 2 ms: rounds at ~0 RTT average enough ops */
#define SMP_WINDOW_PROBE_ROUNDS 128
#define SMP_WINDOW_SAMPLES 16

typedef struct smp_window {
	unsigned max;             /* hard bound */
	unsigned size;            /* operations that may be in flight now */
	unsigned ceiling;         /* after trouble: the bound that grows back */
	unsigned inflight;
	int startup;              /* doubling phase */
	int stalls;               /* startup rounds without growth */
	double best_rate;         /* startup: best rate so far (ops/ns) */
	double rate[SMP_WINDOW_SAMPLES];  /* recent rounds' rates (ops/ns), 0 = none */
	unsigned nrate;           /* rounds recorded (index of the next sample, mod 16) */
	double min_delay;         /* ns per op; 0 = not measured yet */
	int probe;                /* 0, or 1/2: round of a delay probe */
	unsigned probe_saved;     /* the size before the probe */
	unsigned rounds_since_probe;
	/* the current round */
	int64_t last_ns, round_start;
	unsigned round_target, round_done, round_peak;
	int round_trouble;        /* already backed off in this round */
	double busy_ns, area;     /* time with ops in flight; in-flight x time */
} smp_window;

/* Starts w at now with the hard bound max (0: SMP_WINDOW_MAX; above it: SMP_WINDOW_MAX). */
void smp_window_init(smp_window *w, unsigned max, int64_t now);

/* Whether one more operation may be sent now. */
int smp_window_may_send(const smp_window *w);

/* An operation was sent at now. */
void smp_window_sent(smp_window *w, int64_t now);

/*
 * An operation ended at now (its final result). trouble: the server pushed back (see
 * smp_window_trouble_rc) or it timed out: the window halves, at most once per round.
 */
void smp_window_done(smp_window *w, int64_t now, int trouble);

/* The connection was lost with every operation in flight: none is in flight any more, and the
   window backs off as for trouble. */
void smp_window_lost(smp_window *w, int64_t now);

/* The callers' clock (the controller itself reads none): CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t smp_window_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether an LDAP result code says the server is overloaded or out of time (busy, unavailable,
   unwilling to perform, time limit, admin limit exceeded). */
int smp_window_trouble_rc(int ldap_rc);

#endif
