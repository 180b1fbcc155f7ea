/*
 * smimepub engine: lookup, what mail clients find for one recipient (engine.h). The entries
 * are read here; the verdict for each is smp_lookup_entry's (pure, lookup.h), so the command,
 * the web page and audit never disagree about a value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"

struct lookup_run {
	smp_session *s;
	const smp_lookup_options *o;
	int stop;
};

/* Hands it out through the engine's one emitter; remembers a request to stop. */
static void emit(struct lookup_run *st, smp_item *it)
{
	pub_emit_item(st->s, it, st->o->on_item, st->o->ctx, &st->stop);
}

/* An item about the address as a whole; msg is freed here (NULL: out of memory). */
static void emit_address(struct lookup_run *st, const char *address, const char *action,
			 const char *reason, int status, char *msg)
{
	smp_item it;

	memset(&it, 0, sizeof(it));
	it.source = address;
	it.action = action;
	it.reason = reason;
	it.status = status;
	it.message = msg != NULL ? msg : "out of memory";
	emit(st, &it);
	free(msg);
}

/* Judges one entry for address and reports it; returns 1 when a client can encrypt with it. */
static int lookup_entry(struct lookup_run *st, const char *address, const smp_entry *e,
			size_t n_entries)
{
	smp_lookup_result *res = NULL;
	smp_error err = SMP_ERROR_INIT;
	smp_item it;
	char *msg = NULL;
	int usable;

	if (smp_lookup_entry(&res, e, address, n_entries, st->s->trust, &err) != 0) {
		if (asprintf(&msg, "cannot look up '%s': %s", address, err.msg) < 0)
			msg = NULL;
		emit_address(st, address, "failed", "unreadable", 1, msg);
		return 0;
	}
	memset(&it, 0, sizeof(it));
	it.source = address;
	it.action = "looked_up";
	it.dn = e->dn;
	it.lookup = res;
	emit(st, &it);
	usable = res->usable;
	smp_lookup_result_free(res);
	return usable;
}

/* See engine.h. */
int smp_lookup(smp_session *s, const smp_lookup_options *opts, const char *address,
	       smp_error *err)
{
	struct lookup_run st;
	smp_error e2 = SMP_ERROR_INIT;
	smp_entry **found = NULL;
	size_t nfound = 0;
	char *addr = NULL, *msg = NULL;
	int usable = 0, r;

	if (opts == NULL || opts->version != SMP_ENGINE_VERSION)
		return smp_error_set(err, SMP_ERR_USAGE, "lookup options of version %u: this "
				     "library knows version %u", opts != NULL ? opts->version : 0,
				     SMP_ENGINE_VERSION);
	memset(&st, 0, sizeof(st));
	st.s = s;
	st.o = opts;
	if (smp_address_normalize(&addr, address, strlen(address), &e2) != 0) {
		if (asprintf(&msg, "'%s' is not a mail address: %s", address, e2.msg) < 0)
			msg = NULL;
		emit_address(&st, address, "skipped", "bad_address", 1, msg);
		return 0;
	}
	if ((r = smp_dir_find_by_address(s->dir, addr, &found, &nfound, &e2)) != 0) {
		if (asprintf(&msg, "cannot look up '%s': %s", addr, e2.msg) < 0)
			msg = NULL;
		struct pub_result res;

		memset(&res, 0, sizeof(res));
		pub_failure(&res, r, NULL);  /* the reason and status of r, as every command's */
		emit_address(&st, addr, "failed", res.reason, res.status, msg);
		pub_result_release(&res);
		pub_note_status(s, 1);
		free(addr);
		return 0;
	}
	if (nfound == 0) {
		if (asprintf(&msg, "no entry has '%s' in mail or proxyAddresses: a mail client "
			     "cannot encrypt to it", addr) < 0)
			msg = NULL;
		emit_address(&st, addr, "skipped", "not_found", 1, msg);
	}
	for (size_t i = 0; i < nfound; i++)
		usable |= lookup_entry(&st, addr, found[i], nfound);
	if (!usable)
		pub_note_status(s, 1);
	smp_entries_free(found, nfound);
	free(addr);
	return 0;
}
