/*
 * Prints the glibc / Linux uapi layouts and constants that src/Common/Interop mirrors (struct statx,
 * struct pollfd, struct rlimit, the errno table, open/statx/flock/fcntl/... flags), as the installed
 * headers define them. tests/TvixLowFs.Tests/Interop/LibcLayoutTests parses the output. Line format:
 *   size  <struct> <bytes>
 *   field <struct>.<field> <offset> <size>
 *   const <NAME> <value>
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE(type) printf("size %s %zu\n", #type, sizeof(struct type))
#define FIELD(type, field) \
	printf("field %s.%s %zu %zu\n", #type, #field, offsetof(struct type, field), \
	       sizeof(((struct type *)0)->field))
#define CONST(name) printf("const %s %lld\n", #name, (long long)(name))

int main(void)
{
	SIZE(statx);
	FIELD(statx, stx_mask);
	FIELD(statx, stx_blksize);
	FIELD(statx, stx_attributes);
	FIELD(statx, stx_nlink);
	FIELD(statx, stx_uid);
	FIELD(statx, stx_gid);
	FIELD(statx, stx_mode);
	FIELD(statx, stx_ino);
	FIELD(statx, stx_size);

	SIZE(pollfd);
	FIELD(pollfd, fd);
	FIELD(pollfd, events);
	FIELD(pollfd, revents);

	SIZE(rlimit);
	FIELD(rlimit, rlim_cur);
	FIELD(rlimit, rlim_max);

	CONST(EPERM); CONST(ENOENT); CONST(EEXIST); CONST(ENOSYS); CONST(EINTR); CONST(EIO); CONST(EBADF); CONST(EAGAIN);
	CONST(EACCES); CONST(ENODEV); CONST(ENOTDIR); CONST(EISDIR); CONST(EINVAL); CONST(ENOTTY);
	CONST(EROFS); CONST(ERANGE); CONST(ELOOP); CONST(ENODATA); CONST(EOPNOTSUPP); CONST(ENOTCONN);

	CONST(F_OK);
	CONST(O_RDONLY); CONST(O_RDWR); CONST(O_CREAT); CONST(O_EXCL); CONST(O_TRUNC); CONST(O_APPEND);
	CONST(O_NONBLOCK); CONST(O_CLOEXEC); CONST(O_ACCMODE);
	CONST(LOCK_EX); CONST(LOCK_NB);
	CONST(AT_FDCWD); CONST(AT_SYMLINK_NOFOLLOW);
	CONST(RENAME_NOREPLACE);
	CONST(STATX_TYPE); CONST(STATX_MODE); CONST(STATX_SIZE);
	CONST(S_IFMT); CONST(S_IFSOCK); CONST(S_IFLNK); CONST(S_IFREG); CONST(S_IFBLK); CONST(S_IFDIR);
	CONST(S_IFCHR); CONST(S_IFIFO); CONST(S_IXUSR);
	CONST(POSIX_FADV_WILLNEED);
	CONST(RLIMIT_NOFILE);
	CONST(MNT_DETACH);
	CONST(POLLIN);
	CONST(EFD_CLOEXEC);
	CONST(F_GETFL); CONST(F_SETFL);
	CONST(PTHREAD_CANCEL_ENABLE); CONST(PTHREAD_CANCEL_DISABLE);
	return 0;
}
