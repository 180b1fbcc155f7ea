/*
 * smimepub: workarounds for one version of a library smimepub uses, each switched on by the
 * program, never by the library itself, and deletable once that version is gone.
 */
#ifndef SMIMEPUB_COMPAT_H
#define SMIMEPUB_COMPAT_H

#include "smimepub/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Under OpenSSL 3.0.x only (a no-op under any other version, and compiled out where OpenSSL has
 * no ENGINE API or with -Dopenssl30_key_workaround=false): makes every later certificate parse
 * decode RSA and EC public keys with OpenSSL's built-in key methods instead of the provider
 * decoders, which 3.0 sets up anew for each key (more than half of the CPU of an audit; 3.1
 * caches them). It registers an ENGINE that offers exactly those built-in methods, so keys
 * parsed afterwards are legacy keys: their facts (type, bits) and signature checks are the
 * same. EC keys on a common named curve also get a copy of a group built once per curve.
 *
 * Process-wide: a program calls it once at start-up, before it loads any key or certificate;
 * EC key generation afterwards takes the legacy route too. Thread-safe and idempotent (the
 * work is done once; later calls return the first call's result). Returns 0, or
 * SMP_ERR_INTERNAL when OpenSSL refused the ENGINE (nothing is switched on then).
 */
int smp_compat_fast_key_decode(smp_error *err);

/* 1 while smp_compat_fast_key_decode's ENGINE is registered, else 0 (ask after switching on). */
int smp_compat_fast_key_decode_on(void);

/*
 * Switches the workarounds off again for the rest of the process and frees what they hold
 * (keys decoded meanwhile stay valid; the last one freed frees the rest). OPENSSL_cleanup
 * calls it too, so a program need not. Not thread-safe: call it when no other thread uses
 * OpenSSL. Calling it again, or without smp_compat_fast_key_decode, does nothing.
 */
void smp_compat_release(void);

#ifdef __cplusplus
}
#endif

#endif
