/*
 * The least work any tool must do to hash a listed set of files: for each file, `openat`
 * relative to its directory, `statx` on the open file, `pread` into a buffer sized to it, SHA-256
 * with OpenSSL, and `close`; directories are handed out to one thread per core. Nothing else: no
 * directory walk (the list is read from a file made before timing), no name checks, no manifest,
 * no output but a count. `bench/compare-hash.sh` times it beside `hallmark hash` as the floor that
 * a tool reading files through these system calls cannot go below.
 *
 *   cc -O2 -pthread -o hash-floor bench/hash-floor.c -lcrypto
 *   (cd TREE && find . -type f -print0 | sort -z) > LIST
 *   hash-floor LIST THREADS          # run from TREE: the paths in LIST are relative to it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

struct dir_job {
	char *dir;    /* directory path, relative to the working directory */
	char **names; /* file names inside it */
	size_t count;
};

static struct dir_job *jobs;
static size_t job_count;
static atomic_size_t next_job;
static atomic_ulong files_done;
static EVP_MD *sha256;

static void die(const char *what, const char *path) {
	fprintf(stderr, "hash-floor: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void hash_file(int dir, const char *name, unsigned char *buf, EVP_MD_CTX *ctx) {
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) die("cannot open", name);
	struct statx st;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_SIZE, &st) != 0)
		die("cannot stat", name);
	size_t want = st.stx_size + 1 < CHUNK ? st.stx_size + 1 : CHUNK;
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_DigestInit_ex(ctx, sha256, NULL);
	off_t offset = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, want, offset);
		if (n < 0) die("cannot read", name);
		if (n == 0) break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		offset += n;
		if ((size_t)n < want && (unsigned long long)offset == st.stx_size) break;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	close(fd);
}

static void *worker(void *unused) {
	(void)unused;
	unsigned char *buf = malloc(CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) die("out of memory", "");
	for (;;) {
		size_t j = atomic_fetch_add(&next_job, 1);
		if (j >= job_count) break;
		int dir = open(jobs[j].dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir < 0) die("cannot open directory", jobs[j].dir);
		for (size_t i = 0; i < jobs[j].count; i++) hash_file(dir, jobs[j].names[i], buf, ctx);
		close(dir);
		atomic_fetch_add(&files_done, jobs[j].count);
	}
	EVP_MD_CTX_free(ctx);
	free(buf);
	return NULL;
}

/* Reads the whole NUL-separated list and groups consecutive paths by directory. */
static void read_list(const char *path) {
	FILE *f = fopen(path, "rb");
	if (!f) die("cannot open list", path);
	size_t cap = 1 << 20, len = 0;
	char *text = malloc(cap);
	size_t n;
	/* One byte is always kept free, for a NUL after the last path. */
	while (text && (n = fread(text + len, 1, cap - 1 - len, f)) > 0) {
		len += n;
		if (len == cap - 1) text = realloc(text, cap *= 2);
	}
	if (!text) die("out of memory reading", path);
	text[len] = '\0';
	fclose(f);
	size_t job_cap = 64;
	jobs = calloc(job_cap, sizeof *jobs);
	if (!jobs) die("out of memory reading", path);
	size_t name_cap = 0;
	for (size_t at = 0; at < len;) {
		char *entry = text + at;
		size_t entry_len = strlen(entry);
		at += entry_len + 1;
		if (entry_len == 0) continue;
		char *slash = strrchr(entry, '/');
		char *dir = ".", *name = entry;
		if (slash) {
			*slash = '\0';
			dir = entry;
			name = slash + 1;
		}
		if (job_count == 0 || strcmp(jobs[job_count - 1].dir, dir) != 0) {
			if (job_count == job_cap) jobs = realloc(jobs, (job_cap *= 2) * sizeof *jobs);
			if (!jobs) die("out of memory reading", path);
			jobs[job_count++] = (struct dir_job){.dir = dir};
			name_cap = 0;
		}
		struct dir_job *job = &jobs[job_count - 1];
		if (job->count == name_cap) {
			name_cap = name_cap ? name_cap * 2 : 16;
			job->names = realloc(job->names, name_cap * sizeof *job->names);
			if (!job->names) die("out of memory reading", path);
		}
		job->names[job->count++] = name;
	}
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: hash-floor LIST THREADS   (LIST: NUL-separated paths)\n");
		return 2;
	}
	int threads = atoi(argv[2]);
	if (threads < 1 || threads > 256) {
		fprintf(stderr, "hash-floor: THREADS must be 1 to 256\n");
		return 2;
	}
	/* Fetched once: EVP_sha256() would look the implementation up again at every init. */
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256) {
		fprintf(stderr, "hash-floor: OpenSSL has no SHA-256\n");
		return 1;
	}
	read_list(argv[1]);
	pthread_t tids[256];
	for (int i = 0; i < threads; i++) pthread_create(&tids[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
	printf("%lu files\n", (unsigned long)atomic_load(&files_done));
	return 0;
}
