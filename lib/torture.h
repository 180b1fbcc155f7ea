/*
 * Fault injection for the test suite, the way curl's debug builds do it (CURL_MEMLIMIT and
 * the torture tests): only in a build configured with -Dtorture=true, never in a release.
 *
 * SMIMEPUB_TORTURE=KIND:N makes the Nth event of that kind fail, once, where the program meets
 * it (the events after it succeed again, so the program carries on past the fault, which is
 * where inconsistent state would show):
 *   alloc  malloc/calloc/realloc/strdup/... by smimepub's own code (linked with --wrap, see
 *          src/torture.c; jansson's too, through the program's allocator for it) and lber's
 *          (libldap's) and libcurl's (smp_torture_curl_init); fails with NULL / ENOMEM
 *   crypto OpenSSL's allocator (CRYPTO_malloc/CRYPTO_realloc). Apart from alloc because there
 *          are about fifty times as many, nearly all OpenSSL's own start-up (providers,
 *          algorithm tables): a test walks them with a stride where alloc is walked whole
 *   write  write/pwrite/fsync/fdatasync/fwrite/fflush by smimepub's own code: the journal,
 *          output files, spools; fails with ENOSPC (EIO for the syncs)
 *   send   a write to the directory's socket, below libldap (a Sockbuf layer added to every
 *          connection); fails with ECONNRESET, so libldap drops the connection as after a
 *          lost network
 * SMIMEPUB_TORTURE=count only counts. With SMIMEPUB_TORTURE_COUNT=FILE the counts are written
 * to FILE at exit as "alloc N\ncrypto N\nwrite N\nsend N\nfailed KIND N\n", so a test learns the range of N
 * to walk and that the fault it asked for was met.
 *
 * GLib's allocator (GMime) aborts on failure by design and is not tortured.
 */
#ifndef SMP_TORTURE_H
#define SMP_TORTURE_H

#include <stdbool.h>

enum smp_torture_kind {
	SMP_TORTURE_ALLOC,
	SMP_TORTURE_CRYPTO,
	SMP_TORTURE_WRITE,
	SMP_TORTURE_SEND,
	SMP_TORTURE_KINDS
};

#ifdef SMP_TORTURE
#include <ldap.h>

/* Counts one event of kind k; true when it is the one to fail. */
bool smp_torture_fails(enum smp_torture_kind k);

/* curl_global_init, with libcurl's allocations counted as alloc while torture is on: a
 * CURLcode. */
int smp_torture_curl_init(void);

/* Adds the send fault layer to every connection ld makes. Returns 0, or -1 when libldap
 * refuses the callback. */
int smp_torture_ldap(LDAP *ld);
#else
static inline bool smp_torture_fails(enum smp_torture_kind k)
{
	(void)k;
	return false;
}
#endif

#endif
