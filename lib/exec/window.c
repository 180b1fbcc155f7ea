/* The adaptive number of operations in flight: the rule is in window.h. */
#include "exec/window.h"

#include <ldap.h>

static unsigned umin(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* The floor the model never goes under (trouble may take the ceiling lower). */
static unsigned floor_size(const smp_window *w)
{
	return umin(umin(SMP_WINDOW_START, w->max), w->ceiling);
}

static void new_round(smp_window *w, int64_t now, unsigned target)
{
	w->round_start = now;
	w->round_target = target > 0 ? target : 1;
	w->round_done = 0;
	w->round_peak = w->inflight;
	w->round_trouble = 0;
	w->busy_ns = 0;
	w->area = 0;
}

/* Accounts the time since the last event: busy time and in-flight x time. */
static void advance(smp_window *w, int64_t now)
{
	if (now > w->last_ns) {
		if (w->inflight > 0) {
			double dt = (double)(now - w->last_ns);

			w->busy_ns += dt;
			w->area += dt * w->inflight;
		}
		w->last_ns = now;
	}
}

void smp_window_init(smp_window *w, unsigned max, int64_t now)
{
	*w = (smp_window){ 0 };
	w->max = max == 0 || max > SMP_WINDOW_MAX ? SMP_WINDOW_MAX : max;
	w->ceiling = w->max;
	w->size = umin(SMP_WINDOW_START, w->max);
	w->startup = 1;
	w->last_ns = now;
	new_round(w, now, w->size);
}

int smp_window_may_send(const smp_window *w)
{
	return w->inflight < w->size;
}

void smp_window_sent(smp_window *w, int64_t now)
{
	advance(w, now);
	w->inflight++;
	if (w->inflight > w->round_peak)
		w->round_peak = w->inflight;
}

static double max_rate(const smp_window *w)
{
	double m = 0;

	for (unsigned i = 0; i < SMP_WINDOW_SAMPLES; i++)
		if (w->rate[i] > m)
			m = w->rate[i];
	return m;
}

/* Twice the bandwidth-delay product, within [floor, ceiling]. */
static unsigned model_size(const smp_window *w)
{
	double bdp = max_rate(w) * w->min_delay;
	unsigned lo = floor_size(w);
	double s = 2 * bdp + 0.999;

	if (s <= lo)
		return lo;
	return s >= w->ceiling ? w->ceiling : (unsigned)s;
}

static void back_off(smp_window *w)
{
	unsigned from = w->probe ? w->probe_saved : w->size;

	w->ceiling = from / 2 > 0 ? from / 2 : 1;
	w->size = w->ceiling;
	w->startup = 0;
	w->probe = 0;
	w->round_trouble = 1;  /* the rest of this round's replies were already on their way */
}

static void end_round(smp_window *w, int64_t now)
{
	double rate, delay;
	int app_limited = w->round_peak < w->round_target;

	if (w->round_trouble || w->round_done == 0 || w->busy_ns <= 0) {
		new_round(w, now, w->size);
		return;
	}
	rate = w->round_done / w->busy_ns;
	delay = w->area / w->round_done;
	w->rate[w->nrate++ % SMP_WINDOW_SAMPLES] = rate;
	if (w->ceiling < w->max) {
		unsigned grow = w->ceiling / 8 > 0 ? w->ceiling / 8 : 1;

		w->ceiling = umin(w->ceiling + grow, w->max);
	}
	if (w->probe == 1) {            /* the queue has drained: measure the next round */
		w->probe = 2;
		new_round(w, now, w->size);
		return;
	}
	if (w->probe == 2) {
		w->min_delay = delay;
		w->probe = 0;
		w->rounds_since_probe = 0;
		w->size = w->probe_saved;
	} else if (w->min_delay == 0 || delay < w->min_delay) {
		w->min_delay = delay;
	}
	if (w->startup) {
		if (rate >= w->best_rate * 1.25) {
			w->best_rate = rate;
			w->stalls = 0;
			if (!app_limited)
				w->size = umin(w->size * 2, w->ceiling);
		} else if (!app_limited && ++w->stalls >= 2) {
			w->startup = 0;
		}
	}
	if (!w->startup) {
		w->size = model_size(w);
		if (++w->rounds_since_probe >= SMP_WINDOW_PROBE_ROUNDS && w->size > floor_size(w)) {
			/* the ops in flight drain in the first probe round, at most w->inflight long */
			w->probe = 1;
			w->probe_saved = w->size;
			w->size = floor_size(w);
			new_round(w, now, w->inflight);
			return;
		}
	}
	new_round(w, now, w->size);
}

void smp_window_done(smp_window *w, int64_t now, int trouble)
{
	advance(w, now);
	if (w->inflight > 0)
		w->inflight--;
	w->round_done++;
	if (trouble && !w->round_trouble)
		back_off(w);
	if (w->round_done >= w->round_target && now - w->round_start >= SMP_WINDOW_ROUND_NS)
		end_round(w, now);
}

void smp_window_lost(smp_window *w, int64_t now)
{
	advance(w, now);
	w->inflight = 0;
	if (!w->round_trouble)
		back_off(w);
	end_round(w, now);
}

int smp_window_trouble_rc(int ldap_rc)
{
	switch (ldap_rc) {
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
	case LDAP_TIMEOUT:
		return 1;
	default:
		return 0;
	}
}
