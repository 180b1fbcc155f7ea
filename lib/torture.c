/*
 * Fault injection (lib/torture.h): counters, the allocators of the libraries underneath, and
 * the send fault layer. Built only with -Dtorture=true.
 *
 * The libraries' allocators are replaced from a constructor because OpenSSL accepts
 * CRYPTO_set_mem_functions only before its first allocation, and lber must not free with one
 * allocator what it took from another. (jansson's allocations are the program's own: it gives
 * jansson an allocator that calls malloc, src/output.c.)
 */
#include "torture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lber.h>
#include <ldap.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

static const char *const kind_names[SMP_TORTURE_KINDS] = { "alloc", "crypto", "write", "send" };

static struct {
	bool on;
	int kind;             /* the kind to fail, or -1 to count only */
	unsigned long nth;
	unsigned long count[SMP_TORTURE_KINDS];
	bool failed;
	const char *report;
	pid_t pid;            /* the analysis workers (lib/parallel) are children: one report */
} t = { .kind = -1 };

/*
 * Set while a hook below calls malloc: in the program that call is redirected to the --wrap
 * counter too (src/torture.c), and one allocation must count once.
 */
static __thread bool in_hook;

#define HOOKED(call) ({ in_hook = true; __typeof__(call) r_ = (call); in_hook = false; r_; })

/* In a sanitizer build: where the fault was injected, for SMIMEPUB_TORTURE_TRACE=1. */
extern void __sanitizer_print_stack_trace(void) __attribute__((weak));

bool smp_torture_fails(enum smp_torture_kind k)
{
	if (!t.on || in_hook)
		return false;
	t.count[k]++;
	if ((int)k != t.kind || t.count[k] != t.nth)
		return false;
	t.failed = true;
	if (getenv("SMIMEPUB_TORTURE_TRACE") != NULL && __sanitizer_print_stack_trace != NULL) {
		in_hook = true;
		fprintf(stderr, "smimepub: torture: failing %s %lu here:\n", kind_names[k], t.nth);
		__sanitizer_print_stack_trace();
		in_hook = false;
	}
	return true;
}

static void report(void)
{
	FILE *fp;

	if (getpid() != t.pid || (fp = fopen(t.report, "w")) == NULL)
		return;
	for (int k = 0; k < SMP_TORTURE_KINDS; k++)
		fprintf(fp, "%s %lu\n", kind_names[k], t.count[k]);
	if (t.failed)
		fprintf(fp, "failed %s %lu\n", kind_names[t.kind], t.nth);
	fclose(fp);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	if (smp_torture_fails(SMP_TORTURE_CRYPTO)) {
		errno = ENOMEM;
		return NULL;
	}
	return HOOKED(malloc(n));
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	/* OpenSSL's realloc of NULL is a malloc and of size 0 a free: neither can fail here */
	if (p != NULL && n > 0 && smp_torture_fails(SMP_TORTURE_CRYPTO)) {
		errno = ENOMEM;
		return NULL;
	}
	return HOOKED(realloc(p, n));
}

static void ossl_free(void *p, const char *file, int line)
{
	free(p);
}

static void *ber_malloc_fn(ber_len_t n, void *ctx)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(malloc(n));
}

static void *ber_calloc_fn(ber_len_t n, ber_len_t size, void *ctx)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(calloc(n, size));
}

static void *ber_realloc_fn(void *p, ber_len_t n, void *ctx)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(realloc(p, n));
}

static void ber_free_fn(void *p, void *ctx)
{
	free(p);
}

/* libcurl's allocator (the IMAP client's): the program's, counted as alloc */
static void *curl_malloc_fn(size_t n)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(malloc(n));
}

static void *curl_calloc_fn(size_t n, size_t size)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(calloc(n, size));
}

static void *curl_realloc_fn(void *p, size_t n)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(realloc(p, n));
}

static char *curl_strdup_fn(const char *s)
{
	return smp_torture_fails(SMP_TORTURE_ALLOC) ? NULL : HOOKED(strdup(s));
}

static void curl_free_fn(void *p)
{
	free(p);
}

int smp_torture_curl_init(void)
{
	if (!t.on)
		return curl_global_init(CURL_GLOBAL_DEFAULT);
	return curl_global_init_mem(CURL_GLOBAL_DEFAULT, curl_malloc_fn, curl_free_fn,
				    curl_realloc_fn, curl_strdup_fn, curl_calloc_fn);
}

__attribute__((constructor)) static void torture_init(void)
{
	static BerMemoryFunctions ber_fns = { ber_malloc_fn, ber_calloc_fn, ber_realloc_fn,
					      ber_free_fn };
	const char *spec = getenv("SMIMEPUB_TORTURE");
	const char *colon;

	if (spec == NULL || *spec == '\0')
		return;
	colon = strchr(spec, ':');
	for (int k = 0; colon != NULL && k < SMP_TORTURE_KINDS; k++)
		if ((size_t)(colon - spec) == strlen(kind_names[k]) &&
		    strncmp(spec, kind_names[k], (size_t)(colon - spec)) == 0) {
			t.kind = k;
			t.nth = strtoul(colon + 1, NULL, 10);
		}
	if (strcmp(spec, "count") != 0 && (t.kind < 0 || t.nth == 0)) {
		fprintf(stderr, "smimepub: SMIMEPUB_TORTURE='%s': want alloc:N, crypto:N, write:N, send:N or "
			"count\n", spec);
		exit(64);
	}
	t.on = true;
	t.pid = getpid();
	if (CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) != 1)
		fprintf(stderr, "smimepub: torture: OpenSSL allocated before start-up\n");
	ber_set_option(NULL, LBER_OPT_MEMORY_FNS, &ber_fns);
	if ((t.report = getenv("SMIMEPUB_TORTURE_COUNT")) != NULL)
		atexit(report);
}

/* The send fault layer: everything passes through to the layer below except the chosen write. */
static int sb_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	return 0;
}

static int sb_remove(Sockbuf_IO_Desc *sbiod)
{
	return 0;
}

static int sb_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

static ber_slen_t sb_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

static ber_slen_t sb_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (smp_torture_fails(SMP_TORTURE_SEND)) {
		errno = ECONNRESET;
		return -1;
	}
	return LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);
}

static int sb_close(Sockbuf_IO_Desc *sbiod)
{
	return 0;
}

static Sockbuf_IO fault_layer = { sb_setup, sb_remove, sb_ctrl, sb_read, sb_write, sb_close };

static int conn_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
		    struct ldap_conncb *ctx)
{
	return ber_sockbuf_add_io(sb, &fault_layer, LBER_SBIOD_LEVEL_APPLICATION, NULL) == 0 ? 0 : -1;
}

static void conn_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
}

int smp_torture_ldap(LDAP *ld)
{
	static struct ldap_conncb cb = { conn_add, conn_del, NULL };

	if (!t.on)
		return 0;
	return ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &cb) == LDAP_OPT_SUCCESS ? 0 : -1;
}
