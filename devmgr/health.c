/*
 * health.c - HEALTH (the seed's bodies, SEED_API.md 2.6, from the registry,
 * the process table and /proc), AUTO_HEAL and STATS.  Only /api/health
 * ("public") answers without a user; the rest show a user its own devices.
 * Read-only, except AUTO_HEAL which starts wanted devices that are down.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "devmgr.h"
#include "log.h"

/* A double printed with 3 decimals, not 17 digits of binary noise. */
static json_object *
jdouble(double v)
{
	char buf[48];

	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
}

struct counts {
	json_object	*o;
	long		 total;
};

static void
count_cb(const char *status, long n, void *arg)
{
	struct counts *ct = arg;

	json_object_object_add(ct->o, status, json_object_new_int64(n));
	ct->total += n;
}

static long
obj_long(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ?
	    (long)json_object_get_int64(v) : 0;
}

static void
jadd_now(json_object *o)
{
	jadd_time(o, "timestamp", (int64_t)ipc_now_ms());
}

static json_object *
check(int ok, const char *msg)
{
	json_object *o = json_object_new_object();

	jadd_str(o, "status", ok ? "healthy" : "unhealthy");
	jadd_str(o, "message", msg);
	return o;
}

static void
health_detailed(struct ctl *c, json_object *o)
{
	json_object *checks = json_object_new_object(), *dmc, *st, *bm, *sum;
	struct counts ct = { json_object_new_object(), 0 };
	char path[PATH_MAX];
	int healthy = 0, ok_db, ok_bin, ok_fs;

	ok_db = registry_device_count_by_status(dm.reg, count_cb, &ct) == 0;
	dmc = check(ok_db, ok_db ? "registry reachable" : "registry error");
	st = json_object_new_object();
	json_object_object_add(st, "total", json_object_new_int64(ct.total));
	json_object_object_add(st, "connected",
	    json_object_new_int64(obj_long(ct.o, "connected")));
	json_object_object_add(st, "disconnected",
	    json_object_new_int64(obj_long(ct.o, "disconnected")));
	json_object_object_add(st, "waiting_qr",
	    json_object_new_int64(obj_long(ct.o, "qr")));
	json_object_object_add(st, "error", json_object_new_int64(
	    obj_long(ct.o, "failed") + obj_long(ct.o, "crashed")));
	json_object_object_add(dmc, "stats", st);
	json_object_put(ct.o);
	json_object_object_add(checks, "deviceManager", dmc);
	healthy += ok_db;

	bm = check(1, "process supervisor running");
	json_object_object_add(bm, "processCount",
	    json_object_new_int64((int64_t)worker_live()));
	json_object_object_add(bm, "runningProcesses",
	    json_object_new_int64((int64_t)worker_live()));
	json_object_object_add(bm, "maxProcesses",
	    json_object_new_int64((int64_t)worker_max()));
	json_object_object_add(checks, "binaryManager", bm);
	healthy++;

	ok_bin = access(dm.waproc_path, X_OK) == 0;
	json_object_object_add(checks, "whatsappBinary", check(ok_bin,
	    ok_bin ? "waproc is executable" : "waproc is missing"));
	healthy += ok_bin;

	config_path(path, sizeof(path), "VAR_DIR", "registry.db");
	ok_fs = access(path, R_OK | W_OK) == 0 &&
	    access(dm.devices_dir, W_OK | X_OK) == 0;
	json_object_object_add(checks, "fileSystem", check(ok_fs,
	    ok_fs ? "state directory writable" : "state directory not "
	    "writable"));
	healthy += ok_fs;

	jadd_str(o, "status", healthy == 4 ? "healthy" : "degraded");
	jadd_now(o);
	json_object_object_add(o, "responseTime", json_object_new_int(0));
	json_object_object_add(o, "checks", checks);
	sum = json_object_new_object();
	json_object_object_add(sum, "total", json_object_new_int(4));
	json_object_object_add(sum, "healthy", json_object_new_int(healthy));
	json_object_object_add(sum, "unhealthy",
	    json_object_new_int(4 - healthy));
	json_object_object_add(o, "summary", sum);
	ctl_ok(c, healthy == 4 ? 200 : 503, healthy == 4 ? "healthy" :
	    "degraded", o);
}

static int
dev_healthy(const struct reg_device *d, const struct worker_info *wi,
    int known)
{
	return known && wi->ready && strcmp(d->status, "failed") != 0 &&
	    strcmp(d->status, "crashed") != 0;
}

static void
health_devices(struct ctl *c, json_object *o, int processes)
{
	struct reg_device *d = NULL;
	struct worker_info wi;
	json_object *devs = processes ? json_object_new_array() :
	    json_object_new_object(), *e, *x, *sum;
	size_t n = 0, i;
	long total = 0, healthy = 0, running = 0;
	char pct[16];
	int known, ok;

	registry_device_list(dm.reg, c->admin ? NULL : c->user, NULL, -1, 0,
	    &d, &n, &total);
	for (i = 0; i < n; i++) {
		known = worker_info(d[i].hash, &wi);
		ok = dev_healthy(&d[i], &wi, known);
		healthy += ok;
		running += known && wi.running;
		e = json_object_new_object();
		if (processes) {
			jadd_str(e, "deviceHash", d[i].hash);
			json_object_object_add(e, "pid", known && wi.running ?
			    json_object_new_int(wi.pid) : NULL);
			jadd_str(e, "status", ok ? "healthy" : "unhealthy");
			jadd_str(e, "processStatus", known && wi.running ?
			    "running" : "stopped");
			json_object_object_add(e, "running",
			    json_object_new_boolean(known && wi.running));
			json_object_object_add(e, "port", NULL);
			json_object_object_add(e, "restarts",
			    json_object_new_int(known ? wi.restarts :
			    d[i].restarts));
			jadd_now(e);
			json_object_object_add(e, "lastChecked",
			    json_object_get(json_object_object_get(e,
			    "timestamp")));
			json_object_object_del(e, "timestamp");
			json_object_array_add(devs, e);
		} else {
			jadd_str(e, "status", ok ? "healthy" : "unhealthy");
			x = json_object_new_object();
			jadd_str(x, "status", d[i].status);
			jadd_time(x, "lastActivity", d[i].last_seen);
			jadd_str(x, "authStatus", strcmp(d[i].status,
			    "connected") == 0 ? "authenticated" :
			    "unauthenticated");
			json_object_object_add(e, "device", x);
			if (known && wi.running)
				json_object_object_add(e, "process",
				    ctl_process_json(d[i].hash, &wi));
			else {
				x = json_object_new_object();
				jadd_str(x, "status", "not_found");
				json_object_object_add(e, "process", x);
			}
			json_object_object_add(e, "processReachable",
			    json_object_new_boolean(known && wi.ready));
			jadd_time(e, "lastChecked", (int64_t)ipc_now_ms());
			json_object_object_add(devs, d[i].hash, e);
		}
		reg_device_clear(&d[i]);
	}
	free(d);
	jadd_str(o, "status", "ok");
	jadd_now(o);
	json_object_object_add(o, processes ? "processes" : "devices", devs);
	sum = json_object_new_object();
	json_object_object_add(sum, "total", json_object_new_int64((int64_t)n));
	json_object_object_add(sum, "healthy", json_object_new_int64(healthy));
	json_object_object_add(sum, "unhealthy",
	    json_object_new_int64((int64_t)n - healthy));
	if (processes) {
		json_object_object_add(sum, "running",
		    json_object_new_int64(running));
		json_object_object_add(sum, "stopped",
		    json_object_new_int64((int64_t)n - running));
	} else if (n > 0) {
		snprintf(pct, sizeof(pct), "%.2f", 100.0 * (double)healthy /
		    (double)n);
		jadd_str(sum, "healthPercentage", pct);
	} else
		json_object_object_add(sum, "healthPercentage",
		    json_object_new_int(0));
	json_object_object_add(o, "summary", sum);
	ctl_ok(c, 200, "health", o);
}

static void
fmt_bytes(char *out, size_t len, double b)
{
	if (b >= 1024.0 * 1024 * 1024)
		snprintf(out, len, "%.2f GB", b / (1024.0 * 1024 * 1024));
	else
		snprintf(out, len, "%.2f MB", b / (1024.0 * 1024));
}

/* A number after "key:" in a /proc file, in kB. */
static long
proc_kb(const char *file, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	FILE *f = fopen(file, "re");
	long v = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void
health_system(struct ctl *c, json_object *o)
{
	struct utsname un;
	json_object *sys = json_object_new_object(), *la, *p, *mu, *mem;
	char host[256] = "", buf[64];
	double up = 0, l[3] = { 0, 0, 0 };
	long total, avail;
	FILE *f;
	int i;

	uname(&un);
	gethostname(host, sizeof(host) - 1);
	if ((f = fopen("/proc/uptime", "re")) != NULL) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	if ((f = fopen("/proc/loadavg", "re")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3)
			l[0] = l[1] = l[2] = 0;
		fclose(f);
	}
	jadd_str(sys, "platform", "linux");
	jadd_str(sys, "arch", un.machine);
	jadd_str(sys, "hostname", host);
	json_object_object_add(sys, "uptime", jdouble(up));
	la = json_object_new_array();
	for (i = 0; i < 3; i++)
		json_object_array_add(la, jdouble(l[i]));
	json_object_object_add(sys, "loadAverage", la);
	json_object_object_add(sys, "cpuCount",
	    json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	jadd_str(o, "status", "ok");
	jadd_now(o);
	json_object_object_add(o, "system", sys);

	p = json_object_new_object();
	json_object_object_add(p, "pid", json_object_new_int(getpid()));
	json_object_object_add(p, "uptime", jdouble(
	    (double)(ipc_mono_ms() - dm.start_mono) / 1000.0));
	jadd_str(p, "version", DEVMGR_VERSION);
	mu = json_object_new_object();
	fmt_bytes(buf, sizeof(buf), 1024.0 * (double)proc_kb("/proc/self/status",
	    "VmRSS"));
	jadd_str(mu, "rss", buf);
	json_object_object_add(p, "memoryUsage", mu);
	json_object_object_add(p, "children",
	    json_object_new_int64((int64_t)worker_live()));
	json_object_object_add(o, "process", p);

	total = proc_kb("/proc/meminfo", "MemTotal");
	avail = proc_kb("/proc/meminfo", "MemAvailable");
	mem = json_object_new_object();
	fmt_bytes(buf, sizeof(buf), 1024.0 * (double)total);
	jadd_str(mem, "total", buf);
	fmt_bytes(buf, sizeof(buf), 1024.0 * (double)avail);
	jadd_str(mem, "free", buf);
	fmt_bytes(buf, sizeof(buf), 1024.0 * (double)(total - avail));
	jadd_str(mem, "used", buf);
	snprintf(buf, sizeof(buf), "%.2f%%", total ? 100.0 *
	    (double)(total - avail) / (double)total : 0.0);
	jadd_str(mem, "usage", buf);
	json_object_object_add(o, "memory", mem);
	ctl_ok(c, 200, "system", o);
}

void
health_check(struct ctl *c)
{
	const char *what = dm_json_str(c->args, "what");
	json_object *o = json_object_new_object();

	if (what == NULL || strcmp(what, "public") == 0 || *what == '\0') {
		jadd_str(o, "status", "healthy");
		jadd_now(o);
		json_object_object_add(o, "uptime", jdouble(
		    (double)(ipc_mono_ms() - dm.start_mono) / 1000.0));
		json_object_object_add(o, "responseTime", json_object_new_int(0));
		jadd_str(o, "version", DEVMGR_VERSION);
		jadd_str(o, "environment", "production");
		ctl_ok(c, 200, "healthy", o);
		return;
	}
	if (!c->authed) {
		json_object_put(o);
		ctl_set(c, 401, "AUTHENTICATION_REQUIRED",
		    "authentication required");
		return;
	}
	if (strcmp(what, "detailed") == 0)
		health_detailed(c, o);
	else if (strcmp(what, "devices") == 0)
		health_devices(c, o, 0);
	else if (strcmp(what, "processes") == 0)
		health_devices(c, o, 1);
	else if (strcmp(what, "system") == 0)
		health_system(c, o);
	else {
		json_object_put(o);
		ctl_set(c, 400, "INVALID_HEALTH_CHECK", "unknown health check");
	}
}

void
health_auto_heal(struct ctl *c)
{
	json_object *svcs = NULL, *o, *res, *r;
	struct reg_device *d = NULL;
	struct worker_info wi;
	size_t n = 0, i, k, ns;
	long total;
	int healed = 0, rc;
	char msg[128];

	if (c->args)
		json_object_object_get_ex(c->args, "services", &svcs);
	res = json_object_new_object();
	ns = svcs && json_object_is_type(svcs, json_type_array) ?
	    json_object_array_length(svcs) : 0;
	for (k = 0; k < (ns ? ns : 1); k++) {
		const char *name = ns ? json_object_get_string(
		    json_object_array_get_idx(svcs, k)) : "processes";

		r = json_object_new_object();
		if (name == NULL || strcmp(name, "processes") != 0) {
			jadd_str(r, "status", "error");
			snprintf(msg, sizeof(msg), "service %s is not supported "
			    "for auto-healing", name ? name : "?");
			jadd_str(r, "message", msg);
			json_object_object_add(res, name ? name : "?", r);
			continue;
		}
		registry_device_list(dm.reg, NULL, NULL, -1, 0, &d, &n, &total);
		for (i = 0; i < n; i++) {
			if (strcmp(d[i].desired, "running") == 0 &&
			    !(worker_info(d[i].hash, &wi) && wi.running)) {
				rc = worker_start(d[i].hash, 0);
				healed += rc == 0;
			}
			reg_device_clear(&d[i]);
		}
		free(d);
		d = NULL;
		jadd_str(r, "status", "success");
		json_object_object_add(r, "healedCount",
		    json_object_new_int(healed));
		snprintf(msg, sizeof(msg), "%d processes restarted", healed);
		jadd_str(r, "message", msg);
		json_object_object_add(res, "processes", r);
	}
	ctl_audit(c, "auto-heal", NULL);
	o = json_object_new_object();
	jadd_str(o, "status", "completed");
	jadd_now(o);
	json_object_object_add(o, "results", res);
	ctl_ok(c, 200, "auto-heal completed", o);
}

void
health_stats(struct ctl *c)
{
	struct counts ct = { json_object_new_object(), 0 };
	json_object *o = json_object_new_object(), *p, *w;

	registry_device_count_by_status(dm.reg, count_cb, &ct);
	json_object_object_add(ct.o, "total", json_object_new_int64(ct.total));
	json_object_object_add(o, "devices", ct.o);
	p = json_object_new_object();
	json_object_object_add(p, "running",
	    json_object_new_int64((int64_t)worker_live()));
	json_object_object_add(p, "max",
	    json_object_new_int64((int64_t)worker_max()));
	json_object_object_add(o, "processes", p);
	w = json_object_new_object();
	json_object_object_add(w, "pending", json_object_new_int(
	    registry_webhook_count(dm.reg, "pending")));
	json_object_object_add(w, "delivered", json_object_new_int(
	    registry_webhook_count(dm.reg, "delivered")));
	json_object_object_add(w, "dead", json_object_new_int(
	    registry_webhook_count(dm.reg, "dead")));
	json_object_object_add(o, "statusWebhooks", w);
	json_object_object_add(o, "users", json_object_new_int64(
	    (int64_t)control_user_count()));
	json_object_object_add(o, "uptime", json_object_new_int64(
	    (int64_t)((ipc_mono_ms() - dm.start_mono) / 1000)));
	ctl_ok(c, 200, "stats", o);
}

