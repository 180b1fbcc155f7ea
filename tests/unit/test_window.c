/*
 * Unit tests for the adaptive window (lib/exec/window.c) against a simulated server: requests
 * travel RTT/2 each way and are served one at a time, FIFO, at a given capacity; the client
 * keeps as many in flight as the window allows and feeds it every send and reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ldap.h>

#include "exec/window.h"

#define MS 1000000LL
#define US 1000LL
#define QMAX 4096

typedef struct sim {
	int64_t rtt, service;     /* ns */
	int64_t now, server_free;
	int64_t done_at[QMAX];    /* FIFO of replies: the time each reaches the client */
	int64_t arrive[QMAX];     /* the time each reached the server */
	int trouble[QMAX];
	size_t head, n;
	unsigned busy_limit;      /* > 0: a request finding this many queued at the server is
				     refused with "busy" (after RTT, no service) */
	unsigned peak;            /* most in flight seen */
	unsigned refused;
	uint64_t completed;
	smp_window w;
} sim;

static void sim_init(sim *s, int64_t rtt, double capacity, unsigned max)
{
	memset(s, 0, sizeof(*s));
	s->rtt = rtt;
	s->service = (int64_t)(1e9 / capacity);
	s->now = 1000 * MS;
	smp_window_init(&s->w, max, s->now);
}

/* Requests queued at the server at time t: arrived, not finished. */
static unsigned server_queue(const sim *s, int64_t t)
{
	unsigned q = 0;

	for (size_t i = 0; i < s->n; i++) {
		size_t k = (s->head + i) % QMAX;

		if (!s->trouble[k] && s->arrive[k] <= t && s->done_at[k] - s->rtt / 2 > t)
			q++;
	}
	return q;
}

static void sim_send(sim *s)
{
	size_t k = (s->head + s->n) % QMAX;
	int64_t arrive = s->now + s->rtt / 2, start;

	assert_true(s->n < QMAX);
	smp_window_sent(&s->w, s->now);
	s->arrive[k] = arrive;
	s->trouble[k] = s->busy_limit > 0 && server_queue(s, arrive) >= s->busy_limit;
	if (s->trouble[k]) {
		s->done_at[k] = arrive + s->rtt / 2;
		/* replies stay in order on the connection */
		if (s->n > 0 && s->done_at[k] < s->done_at[(k + QMAX - 1) % QMAX])
			s->done_at[k] = s->done_at[(k + QMAX - 1) % QMAX];
	} else {
		start = arrive > s->server_free ? arrive : s->server_free;
		s->server_free = start + s->service;
		s->done_at[k] = s->server_free + s->rtt / 2;
	}
	s->n++;
	if (s->w.inflight > s->peak)
		s->peak = s->w.inflight;
}

/* Runs ops operations; returns their throughput (ops/s) over the last half. */
static double sim_run(sim *s, uint64_t ops)
{
	uint64_t sent = 0, half_done = 0;
	int64_t half_t = 0;

	while (s->completed < ops) {
		while (sent < ops && smp_window_may_send(&s->w)) {
			sim_send(s);
			sent++;
		}
		assert_true(s->n > 0);
		s->now = s->done_at[s->head];
		smp_window_done(&s->w, s->now, s->trouble[s->head]);
		s->refused += s->trouble[s->head];
		s->head = (s->head + 1) % QMAX;
		s->n--;
		s->completed++;
		assert_true(s->w.size <= s->w.max);
		assert_true(s->w.size >= 1);
		if (s->completed == ops / 2) {
			half_t = s->now;
			half_done = s->completed;
		}
	}
	return (double)(s->completed - half_done) * 1e9 / (double)(s->now - half_t);
}

/* 10 ms and 20,000 ops/s: a bandwidth-delay product of 200 operations. */
static void test_wan_grows_to_bdp(void **state)
{
	sim s;
	double tput;

	(void)state;
	sim_init(&s, 10 * MS, 20000, 0);
	tput = sim_run(&s, 40000);
	assert_true(s.w.size >= 200);
	assert_true(tput >= 0.95 * 20000);
	assert_true(s.peak <= SMP_WINDOW_MAX);
}

/* 10 ms and 6,700 ops/s (about slapd's write rate here): 67 in flight are needed. */
static void test_wan_moderate_server(void **state)
{
	sim s;
	double tput;

	(void)state;
	sim_init(&s, 10 * MS, 6700, 0);
	tput = sim_run(&s, 20000);
	assert_true(s.w.size >= 67);
	assert_true(s.w.size <= 4 * 67);
	assert_true(tput >= 0.95 * 6700);
}

/* A fast server far away: the window stops at the hard bound, and at an explicit one. */
static void test_bound(void **state)
{
	sim s;

	(void)state;
	sim_init(&s, 50 * MS, 1e6, 0);
	sim_run(&s, 30000);
	assert_int_equal(s.w.size, SMP_WINDOW_MAX);
	assert_true(s.peak <= SMP_WINDOW_MAX);

	sim_init(&s, 50 * MS, 1e6, 16);
	sim_run(&s, 5000);
	assert_true(s.peak <= 16);
	assert_int_equal(s.w.size, 16);

	sim_init(&s, 10 * MS, 1e6, 4);      /* --jobs below the start */
	sim_run(&s, 2000);
	assert_true(s.peak <= 4);

	sim_init(&s, 10 * MS, 1e6, 100000); /* above the hard bound: the hard bound */
	assert_int_equal(s.w.max, SMP_WINDOW_MAX);
}

/* Next to the server nothing is gained by growing: the window stays small. */
static void test_local_stays_small(void **state)
{
	sim s;
	double tput;

	(void)state;
	sim_init(&s, 20 * US, 7000, 0);
	tput = sim_run(&s, 20000);
	assert_true(s.w.size <= 32);
	assert_true(s.peak <= 64);
	assert_true(tput >= 0.98 * 7000);

	sim_init(&s, 0, 7000, 0);
	sim_run(&s, 20000);
	assert_true(s.w.size <= 32);
}

/* Trouble halves the window, once per round; it grows back without trouble. */
static void test_shrinks_on_errors(void **state)
{
	sim s;
	unsigned before, i;

	(void)state;
	sim_init(&s, 10 * MS, 20000, 0);
	sim_run(&s, 20000);
	before = s.w.size;
	assert_true(before >= 200);

	/* a lost connection halves it and starts a new round */
	smp_window_lost(&s.w, s.now);
	assert_int_equal(s.w.size, before / 2);

	/* a burst of busy replies within one round: one halving */
	for (i = 0; i < 5; i++) {
		smp_window_sent(&s.w, s.now);
		s.now += 1 * US;
		smp_window_done(&s.w, s.now, 1);
	}
	assert_int_equal(s.w.size, before / 4);

	/* trouble in the following rounds halves again, down to 1 at the least */
	for (i = 0; i < 20; i++) {
		s.now += 5 * MS;
		smp_window_lost(&s.w, s.now);
	}
	assert_int_equal(s.w.size, 1);
	assert_int_equal(s.w.inflight, 0);

	/* and it grows back once the server answers again */
	s.n = 0;
	s.completed = 0;
	s.server_free = s.now;
	sim_run(&s, 30000);
	assert_true(s.w.size >= 200);
}

/* A small server that refuses requests beyond 24 queued is not flooded. */
static void test_busy_server(void **state)
{
	sim s;
	double tput;

	(void)state;
	sim_init(&s, 10 * MS, 6700, 0);
	s.busy_limit = 24;
	tput = sim_run(&s, 20000);
	/* 67 on the way plus 24 queued are taken: the window saws around 91, well under the
	   256 it reaches unhindered, with few refusals and most of the capacity used */
	assert_true(s.peak <= 128);
	assert_true(s.w.size <= 128);
	assert_true(s.refused < 20000 / 20);   /* under 5 % of the requests */
	assert_true(tput >= 0.8 * 6700);
}

static void test_trouble_rc(void **state)
{
	(void)state;
	assert_true(smp_window_trouble_rc(LDAP_BUSY));
	assert_true(smp_window_trouble_rc(LDAP_UNAVAILABLE));
	assert_true(smp_window_trouble_rc(LDAP_UNWILLING_TO_PERFORM));
	assert_true(smp_window_trouble_rc(LDAP_TIMELIMIT_EXCEEDED));
	assert_true(smp_window_trouble_rc(LDAP_ADMINLIMIT_EXCEEDED));
	assert_false(smp_window_trouble_rc(LDAP_SUCCESS));
	assert_false(smp_window_trouble_rc(LDAP_NO_SUCH_ATTRIBUTE));
	assert_false(smp_window_trouble_rc(LDAP_TYPE_OR_VALUE_EXISTS));
	assert_false(smp_window_trouble_rc(LDAP_INSUFFICIENT_ACCESS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wan_grows_to_bdp),
		cmocka_unit_test(test_wan_moderate_server),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_local_stays_small),
		cmocka_unit_test(test_shrinks_on_errors),
		cmocka_unit_test(test_busy_server),
		cmocka_unit_test(test_trouble_rc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
