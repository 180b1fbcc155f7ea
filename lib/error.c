#include "smimepub/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static void vset(smp_error *err, int code, const char *fmt, va_list ap)
{
	err->code = code;
	err->hint = SMP_HINT_NONE;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int smp_error_set_hint(smp_error *err, int code, smp_hint hint, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	err->hint = hint;
	return code;
}

int smp_error_set(smp_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int smp_openssl_out_of_memory(void)
{
	unsigned long e = ERR_peek_error();

	return e != 0 && ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
}

int smp_error_openssl(smp_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	char reason[256];
	size_t used;

	if (smp_openssl_out_of_memory())
		code = SMP_ERR_NOMEM;  /* whatever the caller took the failure for */
	e = ERR_peek_error();
	if (err != NULL) {
		va_start(ap, fmt);
		vset(err, code, fmt, ap);
		va_end(ap);
		if (e != 0) {
			ERR_error_string_n(e, reason, sizeof(reason));
			used = strlen(err->msg);
			snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", reason);
		}
	}
	ERR_clear_error();
	return code;
}

void smp_error_clear(smp_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->hint = SMP_HINT_NONE;
	err->msg[0] = '\0';
}

int smp_exit_status(int code)
{
	switch (code) {
	case SMP_OK:
		return 0;
	case SMP_ERR_USAGE:
		return 64;
	case SMP_ERR_BADINPUT:
		return 65;
	case SMP_ERR_NOFILE:
		return 66;
	case SMP_ERR_UNAVAILABLE:
		return 69;
	case SMP_ERR_ACCESS:
		return 77;
	default:
		return 1;
	}
}

/* How bad an exit status is, for smp_status_worse. */
static int status_rank(int status)
{
	switch (status) {
	case 0:
		return 0;
	case 64:
	case 65:
		return 2;
	case 66:
		return 3;
	case 69:
		return 4;
	case 77:
		return 5;
	default:
		return 1;
	}
}

/* See error.h. */
int smp_status_worse(int a, int b)
{
	return status_rank(b) > status_rank(a) ? b : a;
}
