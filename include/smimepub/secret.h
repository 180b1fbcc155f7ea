/* smimepub: memory for secrets (the bind password), kept the way OpenSSH keeps its keys. */
#ifndef SMIMEPUB_SECRET_H
#define SMIMEPUB_SECRET_H

#include <stddef.h>

/*
 * n zeroed bytes for a secret, or NULL when out of memory. They live on pages of their own
 * (mmap), locked in RAM where RLIMIT_MEMLOCK allows (never written to swap), marked
 * MADV_DONTDUMP (left out of any core dump) and MADV_WIPEONFORK (a forked analysis worker,
 * which parses untrusted input, sees zeroes). The first call also makes the process not
 * dumpable (PR_SET_DUMPABLE 0: no core file, and no ptrace or /proc/PID/mem by other
 * processes of the same user). It stays so for the rest of the process, after the secret is
 * freed: libldap and the SASL library keep copies of the bind request in heap memory they
 * free without clearing. Free with smp_secret_free.
 */
void *smp_secret_alloc(size_t n);

/* A copy of s in smp_secret_alloc memory, or NULL when out of memory (or s is NULL). */
char *smp_secret_strdup(const char *s);

/* Clears (explicit_bzero) and unmaps memory from smp_secret_alloc; accepts NULL. */
void smp_secret_free(void *p);

#endif
