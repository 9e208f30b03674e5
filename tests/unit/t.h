/*
 * t.h - the unit-test harness: TAP output ("ok N - name" / "not ok N - name"),
 * one binary per module, each test a function run by T_RUN.  A test binary
 * given arguments runs only the tests whose names contain one of them:
 *     build/tests/test_config config_file
 * Header-only so each test is one file.  Tests run from the repository root;
 * shared vectors live in $SHARED_DIR (default ../shared).
 */
#ifndef TESTS_T_H
#define TESTS_T_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wunused-function"

static int t_n, t_failed, t_argc;
static char **t_argv;
static const char *t_cur = "";

static void
t_init(int argc, char **argv)
{
	t_argc = argc;
	t_argv = argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static int
t_selected(const char *name)
{
	int i;

	if (t_argc <= 1)
		return 1;
	for (i = 1; i < t_argc; i++)
		if (strstr(name, t_argv[i]) != NULL)
			return 1;
	return 0;
}

static __attribute__((format(printf, 4, 5))) int
t_ok(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	t_n++;
	printf("%s %d - %s: ", ok ? "ok" : "not ok", t_n, t_cur);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok) {
		t_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return ok;
}

#define T_OK(cond, ...)	t_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define T_EQ_INT(a, b, name) do {					\
	long long t_a_ = (long long)(a), t_b_ = (long long)(b);		\
	if (!T_OK(t_a_ == t_b_, "%s", name))				\
		printf("#   got %lld, want %lld\n", t_a_, t_b_);		\
} while (0)
#define T_EQ_STR(a, b, name) do {					\
	const char *t_a_ = (a), *t_b_ = (b);				\
	int t_ok_ = t_a_ && t_b_ && strcmp(t_a_, t_b_) == 0;		\
	if (!T_OK(t_ok_, "%s", name))					\
		printf("#   got \"%s\", want \"%s\"\n",			\
		    t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");	\
} while (0)
#define T_EQ_MEM(a, alen, b, blen, name)				\
	T_OK((size_t)(alen) == (size_t)(blen) &&			\
	    memcmp((a), (b), (size_t)(alen)) == 0, "%s", name)

#define T_RUN(fn) do {							\
	if (t_selected(#fn)) {						\
		t_cur = #fn;						\
		fn();							\
	}								\
} while (0)

static int
t_done(void)
{
	printf("1..%d\n", t_n);
	if (t_failed)
		printf("# %d of %d failed\n", t_failed, t_n);
	return t_failed ? 1 : 0;
}

/* Path of a file in ../shared (or $SHARED_DIR). */
static const char *
t_shared(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("SHARED_DIR");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared", rel);
	return path;
}

/* Whole file, NUL-terminated; NULL when missing. Caller frees. */
static char *
t_read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) != NULL) {
		if (fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		} else {
			p[n] = '\0';
			if (lenp)
				*lenp = (size_t)n;
		}
	}
	fclose(f);
	return p;
}

/* Hex string -> bytes; returns length or -1. */
static int
t_unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t n = strlen(hex), i;
	unsigned int v;

	if (n % 2 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

#endif
