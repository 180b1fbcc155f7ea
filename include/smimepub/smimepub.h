/*
 * smimepub: the library that publishes S/MIME certificates into LDAP directories and Active
 * Directory, and audits what is there. Include this header; build with
 * `pkg-config --cflags --libs smimepub`. examples/publish_and_audit.c is a whole program.
 *
 * Conventions, stated once here for every header below:
 *
 * Errors. A fallible function returns 0 on success or a negative SMP_ERR_* code (error.h).
 *   Only codes a caller acts on are told apart (SMP_ERR_NOTFOUND, SMP_ERR_AMBIGUOUS,
 *   SMP_ERR_CONFLICT ...); smp_exit_status maps them to exit statuses. The message is written
 *   into the smp_error the caller passes as the last argument (declare it with
 *   SMP_ERROR_INIT; NULL when the message is not wanted) -- never into a global, so threads
 *   and independent callers do not share it. The message says what failed and names its
 *   subject, in lower case without a full stop ("cannot read 'alice.cer': not a certificate"),
 *   fit to print after the program's name. Findings about certificates and entries (expired,
 *   untrusted, address_mismatch ...) are not errors: they come back as smp_problem data in the
 *   results.
 *
 * Out parameters. A function that makes an object takes its out parameter first
 *   (smp_trust_new(&trust, &opts, &err)); one that acts on an object takes the object first
 *   (smp_dir_find_by_address(dir, addr, &entries, &n, &err)). Out parameters are cleared on
 *   entry (*out = NULL, counts 0), so after an error there is nothing to free.
 *
 * Ownership. An object the caller gets through an out parameter is the caller's: free it with
 *   the function named after its type (smp_bundle_free, smp_certinfo_free, smp_entry_free,
 *   smp_plan_free, smp_dir_close, smp_journal_close ...); every _free/_close accepts NULL.
 *   Strings and arrays handed out that way are freed with free() unless a header says
 *   otherwise. A pointer returned by a function or found in a struct field marked "borrowed"
 *   belongs to the object it came from and stays valid while that object lives (unchanged);
 *   copy it (or X509_up_ref it) to keep it longer. Entries given to a callback (smp_dir_walk,
 *   smp_ldif_walk) are freed when the callback returns. The library keeps no pointer to the
 *   caller's arguments after a call returns, except where a header says it borrows them
 *   (smp_plan borrows the values it was planned from; smp_audit_entry the entry).
 *
 * Options structs are initialised with their *_INIT macro (SMP_CONN_OPTIONS_INIT,
 *   SMP_TRUST_OPTIONS_INIT, SMP_POLICY_INIT, SMP_PRUNE_SEL_INIT), then the fields wanted are
 *   set, so a field added later gets its default in programs written earlier. They are read
 *   during the call and may be discarded afterwards (smp_dir_open copies what
 *   smp_dir_reconnect will need).
 *
 * Directory writes are exact-value changes planned beforehand by pure functions (plan.h) and
 *   recorded in the undo journal (journal.h) before they are sent (smp_dir_modify, dir.h).
 *
 * Only what these headers declare is the library's API (and all that libsmimepub.so
 * exports); everything else may change at any release.
 */
#ifndef SMIMEPUB_SMIMEPUB_H
#define SMIMEPUB_SMIMEPUB_H

#include "smimepub/error.h"   /* return codes, smp_error */
#include "smimepub/cert.h"    /* intake, trust, facts and problems of a certificate, addresses */
#include "smimepub/message.h" /* signed mail as an input */
#include "smimepub/dir.h"     /* connections, profiles, entries, exact-value writes */
#include "smimepub/ca.h"      /* partner CA containers and their certificates */
#include "smimepub/ldif_in.h" /* reading LDIF exports */
#include "smimepub/plan.h"    /* publish / remove decisions */
#include "smimepub/audit.h"   /* findings on entries, summary of a run, prune selection */
#include "smimepub/journal.h" /* the undo journal, LDIF output */
#include "smimepub/engine.h"  /* the engine: a session, publish / remove, results as items */
#include "smimepub/compat.h"  /* workarounds for one OpenSSL version, switched on by programs */
#include "smimepub/problems.h" /* the one table of problem codes */
#include "smimepub/clients.h"  /* what each mail client picks from an entry */
#include "smimepub/lookup.h"   /* a recipient as the clients see it */
#include "smimepub/secret.h"   /* memory for the bind password: not dumped, swapped or forked */
#include "smimepub/imap.h"     /* a mailbox of signed mail over IMAP (the harvester's input) */

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif
