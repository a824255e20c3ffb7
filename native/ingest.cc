// flow-collector native UDP ingest.
//
// One class, UdpSocket, wraps a non-blocking UDP socket:
//   * receive side: recvmmsg(2) batches into memory owned by JavaScript
//     (typed arrays handed over once by start()), drained from a libuv
//     uv_poll_t when the socket becomes readable, one JS call per batch;
//   * send side (load generator): sendmmsg(2) from a packed buffer to one
//     or many pre-registered destinations.
//
// Design constraints: N-API only (node-addon-api with C++ exceptions
// disabled), no threads, nothing from libstdc++ beyond operator new/delete,
// so the glibc/libstdc++ floor of the binary stays low.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33
#endif
#ifndef SO_SNDBUFFORCE
#define SO_SNDBUFFORCE 32
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
// SO_MEMINFO's array (linux/sock_diag.h): the receive queue's memory, the
// receive buffer's size, and the drops.
#ifndef SK_MEMINFO_DROPS
#define SK_MEMINFO_RMEM_ALLOC 0
#define SK_MEMINFO_RCVBUF 1
#define SK_MEMINFO_DROPS 8
#endif

namespace {

// Build a JS Error shaped like Node's system errors:
// { message, errno (negative, as in libuv), code ('EADDRINUSE'), syscall }.
Napi::Error SysError(Napi::Env env, int err, const char* syscall) {
  char msg[256];
  const char* code = uv_err_name(-err);
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, code, strerror(err));
  Napi::Error e = Napi::Error::New(env, msg);
  Napi::Object o = e.Value();
  o.Set("errno", Napi::Number::New(env, -err));
  o.Set("code", Napi::String::New(env, code));
  o.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

Napi::Value ThrowSys(Napi::Env env, int err, const char* syscall) {
  SysError(env, err, syscall).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// Parse a literal IPv4 or IPv6 address (no name resolution) plus port into a
// sockaddr_storage. Returns the sockaddr length or 0 when not an address.
socklen_t ParseAddr(const char* host, int port, sockaddr_storage* ss) {
  memset(ss, 0, sizeof *ss);
  if (strchr(host, ':') != nullptr) {
    sockaddr_in6* a = reinterpret_cast<sockaddr_in6*>(ss);
    // Allow a "%scope" suffix, numeric or interface index only.
    char buf[INET6_ADDRSTRLEN + 16];
    snprintf(buf, sizeof buf, "%s", host);
    char* pct = strchr(buf, '%');
    uint32_t scope = 0;
    if (pct != nullptr) {
      *pct = '\0';
      scope = static_cast<uint32_t>(strtoul(pct + 1, nullptr, 10));
    }
    if (inet_pton(AF_INET6, buf, &a->sin6_addr) != 1) return 0;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    a->sin6_scope_id = scope;
    return sizeof(sockaddr_in6);
  }
  sockaddr_in* a = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return 0;
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<uint16_t>(port));
  return sizeof(sockaddr_in);
}

int64_t GetInt(Napi::Object o, const char* key, int64_t dflt) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return dflt;
  return v.As<Napi::Number>().Int64Value();
}

bool GetBool(Napi::Object o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) return dflt;
  return v.As<Napi::Boolean>().Value();
}

// Copy a JS string into buf (NUL-terminated, truncated to size-1 bytes).
// Returns false when v is not a string.
bool GetStr(Napi::Env env, Napi::Value v, char* buf, size_t size) {
  if (!v.IsString()) return false;
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, size, &got) != napi_ok)
    return false;
  return true;
}

int BpfSyscall(int cmd, union bpf_attr* attr) {
  return static_cast<int>(syscall(__NR_bpf, cmd, attr, sizeof *attr));
}

// Space for the control messages we ask for on every datagram:
// SCM_TIMESTAMPNS (struct timespec) and SO_RXQ_OVFL (uint32).
constexpr size_t kCtrlSize =
    CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(uint32_t)) + 64;

constexpr size_t kSendCtrlSize = CMSG_SPACE(sizeof(uint16_t));

// Limit on batches drained per readiness notification, so one busy socket
// cannot starve the rest of the event loop.
constexpr int kMaxBatchesPerWake = 64;

class UdpSocket : public Napi::ObjectWrap<UdpSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "UdpSocket",
        {
            InstanceMethod<&UdpSocket::LocalAddress>("localAddress"),
            InstanceMethod<&UdpSocket::RcvBuf>("rcvbuf"),
            InstanceMethod<&UdpSocket::SndBuf>("sndbuf"),
            InstanceMethod<&UdpSocket::KernelDrops>("kernelDrops"),
            InstanceMethod<&UdpSocket::ReadDelay>("readDelayUs"),
            InstanceMethod<&UdpSocket::Spread>("spread"),
            InstanceMethod<&UdpSocket::Start>("start"),
            InstanceMethod<&UdpSocket::Stop>("stop"),
            InstanceMethod<&UdpSocket::Close>("close"),
            InstanceMethod<&UdpSocket::DoRef>("ref"),
            InstanceMethod<&UdpSocket::DoUnref>("unref"),
            InstanceMethod<&UdpSocket::SetDestinations>("setDestinations"),
            InstanceMethod<&UdpSocket::SendBatch>("sendBatch"),
            InstanceMethod<&UdpSocket::Fd>("fd"),
        });
  }

  // new UdpSocket({ host, port, reusePort, v6only, rcvbuf, sndbuf,
  //                 timestamps, rxqOvfl })
  explicit UdpSocket(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<UdpSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowType(env, "UdpSocket(options): options object required");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    char host[INET6_ADDRSTRLEN + 16];
    if (!GetStr(env, o.Get("host"), host, sizeof host)) {
      ThrowType(env, "options.host must be a literal IP address string");
      return;
    }
    int64_t port = GetInt(o, "port", 0);
    if (port < 0 || port > 65535) {
      ThrowType(env, "options.port out of range");
      return;
    }
    sockaddr_storage ss;
    socklen_t slen = ParseAddr(host, static_cast<int>(port), &ss);
    if (slen == 0) {
      ThrowType(env, "options.host is not a literal IPv4/IPv6 address");
      return;
    }
    family_ = ss.ss_family;
    int fd = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ThrowSys(env, errno, "socket");
      return;
    }
    int one = 1;
    if (family_ == AF_INET6) {
      int v6only = GetBool(o, "v6only", false) ? 1 : 0;
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) <
          0) {
        int err = errno;
        close(fd);
        ThrowSys(env, err, "setsockopt(IPV6_V6ONLY)");
        return;
      }
    }
    if (GetBool(o, "reusePort", false)) {
      if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int err = errno;
        close(fd);
        ThrowSys(env, err, "setsockopt(SO_REUSEPORT)");
        return;
      }
    }
    int64_t rcvbuf = GetInt(o, "rcvbuf", 0);
    if (rcvbuf > 0) {
      int v = rcvbuf > INT32_MAX / 2 ? INT32_MAX / 2 : static_cast<int>(rcvbuf);
      // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN;
      // fall back to SO_RCVBUF (capped at rmem_max) otherwise.
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0 &&
          setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0) {
        int err = errno;
        close(fd);
        ThrowSys(env, err, "setsockopt(SO_RCVBUF)");
        return;
      }
    }
    int64_t sndbuf = GetInt(o, "sndbuf", 0);
    if (sndbuf > 0) {
      int v = sndbuf > INT32_MAX / 2 ? INT32_MAX / 2 : static_cast<int>(sndbuf);
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0 &&
          setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) < 0) {
        int err = errno;
        close(fd);
        ThrowSys(env, err, "setsockopt(SO_SNDBUF)");
        return;
      }
    }
    // Kernel receive timestamps and drop counters are best effort: where
    // they are unsupported (ENOPROTOOPT, e.g. under qemu-user) the receive
    // path stamps datagrams with clock_gettime and drops come from
    // SO_MEMINFO only.
    if (GetBool(o, "timestamps", true)) {
      if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0 &&
          errno != ENOPROTOOPT) {
        int err = errno;
        close(fd);
        ThrowSys(env, err, "setsockopt(SO_TIMESTAMPNS)");
        return;
      }
    }
    if (GetBool(o, "rxqOvfl", true)) {
      if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0 &&
          errno != ENOPROTOOPT) {
        int err = errno;
        close(fd);
        ThrowSys(env, err, "setsockopt(SO_RXQ_OVFL)");
        return;
      }
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), slen) < 0) {
      int err = errno;
      close(fd);
      ThrowSys(env, err, "bind");
      return;
    }
    fd_ = fd;
  }

  ~UdpSocket() override { Teardown(); }

 private:
  // ---- generic -----------------------------------------------------------

  bool CheckOpen(Napi::Env env) {
    if (fd_ >= 0) return true;
    ThrowSys(env, EBADF, "use of closed socket");
    return false;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), fd_);
  }

  Napi::Value LocalAddress(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0)
      return ThrowSys(env, errno, "getsockname");
    char buf[INET6_ADDRSTRLEN];
    int port = 0;
    if (ss.ss_family == AF_INET6) {
      sockaddr_in6* a = reinterpret_cast<sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      port = ntohs(a->sin6_port);
    } else {
      sockaddr_in* a = reinterpret_cast<sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
      port = ntohs(a->sin_port);
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("address", Napi::String::New(env, buf));
    r.Set("port", Napi::Number::New(env, port));
    r.Set("family", Napi::String::New(env, ss.ss_family == AF_INET6 ? "IPv6"
                                                                    : "IPv4"));
    return r;
  }

  Napi::Value SockOptInt(Napi::Env env, int opt, const char* name) {
    if (!CheckOpen(env)) return env.Undefined();
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd_, SOL_SOCKET, opt, &v, &len) < 0)
      return ThrowSys(env, errno, name);
    return Napi::Number::New(env, v);
  }

  // The receive buffer the kernel actually granted (it doubles the request
  // to account for bookkeeping overhead, and caps SO_RCVBUF at rmem_max).
  Napi::Value RcvBuf(const Napi::CallbackInfo& info) {
    return SockOptInt(info.Env(), SO_RCVBUF, "getsockopt(SO_RCVBUF)");
  }

  Napi::Value SndBuf(const Napi::CallbackInfo& info) {
    return SockOptInt(info.Env(), SO_SNDBUF, "getsockopt(SO_SNDBUF)");
  }

  // SO_MEMINFO of this socket into mem[kMemInfoLen]; false when the kernel
  // does not give entry `need`.
  static constexpr int kMemInfoLen = 16;
  bool MemInfo(uint32_t* mem, int need) const {
    memset(mem, 0, kMemInfoLen * sizeof(uint32_t));
    socklen_t len = kMemInfoLen * sizeof(uint32_t);
    return getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
           len > static_cast<socklen_t>(need * sizeof(uint32_t));
  }

  // Kernel drop counter of this socket: the larger of the last SO_RXQ_OVFL
  // value seen on a received datagram and SO_MEMINFO's drop count (which is
  // current even when nothing has been received since the drops).
  Napi::Value KernelDrops(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    uint32_t mem[kMemInfoLen];
    uint32_t drops = rxqDrops_;
    if (MemInfo(mem, SK_MEMINFO_DROPS) && mem[SK_MEMINFO_DROPS] > drops)
      drops = mem[SK_MEMINFO_DROPS];
    return Napi::Number::New(env, drops);
  }

  // The wait after the last wake-up, µs (0: polled again at once; -1: none yet).
  Napi::Value ReadDelay(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(lastDelayUs_));
  }

  // spread(mode, groupSize): attach a program to this socket's SO_REUSEPORT
  // group that picks the receiving socket (index in bind order) per datagram
  // instead of the default 4-tuple hash.
  //   'random'     cBPF: random % n
  //   'cpu'        cBPF: receiving CPU % n
  //   'roundrobin' eBPF: counter in a one-slot array map, counter++ % n
  //                (needs CAP_BPF / CAP_SYS_ADMIN)
  //   'none'       detach (back to the hash)
  Napi::Value Spread(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
      return ThrowType(env, "spread(mode: string, groupSize: number)");
    char mode[32];
    GetStr(env, info[0], mode, sizeof mode);
    uint32_t n = info[1].As<Napi::Number>().Uint32Value();
    if (n == 0) return ThrowType(env, "groupSize must be >= 1");
    if (strcmp(mode, "none") == 0) {
      // There is no SO_DETACH_REUSEPORT_BPF before Linux 5.3; attaching a
      // program that returns an out-of-range index falls back to the hash.
      sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 0xffffffffu}};
      sock_fprog prog = {1, code};
      if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                     sizeof prog) < 0)
        return ThrowSys(env, errno, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
      return env.Undefined();
    }
    if (strcmp(mode, "random") == 0 || strcmp(mode, "cpu") == 0) {
      uint32_t ad = strcmp(mode, "random") == 0 ? SKF_AD_RANDOM : SKF_AD_CPU;
      sock_filter code[] = {
          {BPF_LD | BPF_W | BPF_ABS, 0, 0,
           static_cast<uint32_t>(SKF_AD_OFF) + ad},
          {BPF_ALU | BPF_MOD | BPF_K, 0, 0, n},
          {BPF_RET | BPF_A, 0, 0, 0},
      };
      sock_fprog prog = {3, code};
      if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                     sizeof prog) < 0)
        return ThrowSys(env, errno, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
      return env.Undefined();
    }
    if (strcmp(mode, "roundrobin") == 0) {
      union bpf_attr attr;
      memset(&attr, 0, sizeof attr);
      attr.map_type = BPF_MAP_TYPE_ARRAY;
      attr.key_size = 4;
      attr.value_size = 4;
      attr.max_entries = 1;
      int mapFd = BpfSyscall(BPF_MAP_CREATE, &attr);
      if (mapFd < 0) return ThrowSys(env, errno, "bpf(BPF_MAP_CREATE)");
      // r0 = counter++ % n, via bpf_map_lookup_elem(map, &key0).
      struct bpf_insn insns[] = {
          // *(u32 *)(r10 - 4) = 0
          {BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0},
          // r2 = r10; r2 += -4
          {BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0},
          {BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4},
          // r1 = map (64-bit immediate, pseudo map fd)
          {BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, mapFd},
          {0, 0, 0, 0, 0},
          // r0 = bpf_map_lookup_elem(r1, r2)
          {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem},
          // if r0 == 0 goto exit (r0 is already 0)
          {BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 6, 0},
          // w1 = *(u32 *)(r0 + 0); w2 = w1 + 1; *(u32 *)(r0 + 0) = w2
          {BPF_LDX | BPF_MEM | BPF_W, 1, 0, 0, 0},
          {BPF_ALU | BPF_MOV | BPF_X, 2, 1, 0, 0},
          {BPF_ALU | BPF_ADD | BPF_K, 2, 0, 0, 1},
          {BPF_STX | BPF_MEM | BPF_W, 0, 2, 0, 0},
          // w0 = w1 % n
          {BPF_ALU | BPF_MOD | BPF_K, 1, 0, 0, static_cast<int32_t>(n)},
          {BPF_ALU | BPF_MOV | BPF_X, 0, 1, 0, 0},
          // exit
          {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
      };
      static const char license[] = "Apache-2.0";
      memset(&attr, 0, sizeof attr);
      attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
      attr.insns = reinterpret_cast<uintptr_t>(insns);
      attr.insn_cnt = sizeof insns / sizeof insns[0];
      attr.license = reinterpret_cast<uintptr_t>(license);
      int progFd = BpfSyscall(BPF_PROG_LOAD, &attr);
      int err = errno;
      close(mapFd);  // the program holds its own reference
      if (progFd < 0) return ThrowSys(env, err, "bpf(BPF_PROG_LOAD)");
      int rc = setsockopt(fd_, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &progFd,
                          sizeof progFd);
      err = errno;
      close(progFd);  // the reuseport group holds its own reference
      if (rc < 0)
        return ThrowSys(env, err, "setsockopt(SO_ATTACH_REUSEPORT_EBPF)");
      return env.Undefined();
    }
    return ThrowType(env, "spread mode must be none|random|cpu|roundrobin");
  }

  // ---- receive -----------------------------------------------------------

  // start(arrays, batchSize, slotSize, callback, pacingUs[, adaptive])
  // arrays = { data: Uint8Array(batchSize*slotSize), lengths: Uint32Array,
  //            addrs: Uint8Array(16*batchSize), families: Uint8Array,
  //            ports: Uint16Array, tsSec: Uint32Array, tsNsec: Uint32Array,
  //            truncated: Uint8Array }
  // callback(count, rxqDrops, bytes, truncatedCount) is called once per
  // batch; count < 0 is -errno of a failed recvmmsg (other args then 0);
  // count 0 is the idle signal (SignalIdle): the socket is empty after
  // batches and no timed read is pending.
  // pacingUs > 0: after a wake-up the socket is read again only once pacingUs
  // microseconds have passed. adaptive (default false): the wait after a
  // wake-up that emptied the socket is as long as keeps the receive buffer
  // at most an eighth full at the next read, at the rate it filled since the
  // previous one (SO_MEMINFO: the kernel's own count of the memory its
  // datagrams take), no longer than three quarters of one wake-up's reads
  // take to arrive at that rate, at most twice the last wait (from 1 ms) and
  // pacingUs, and none below 1 ms; after a wake-up that stopped with datagrams still
  // queued (kMaxBatchesPerWake) the socket is polled again at once. Each
  // start() begins anew (after a pause the queue's fill says nothing about
  // the rate). A low rate then gets the whole
  // pacingUs (each wake-up carries more datagrams per JS call, the core
  // wakes less often), a high rate or a small buffer little or no wait.
  // Either way a datagram waits at most pacingUs (plus the time to process
  // what came before it) to be read.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (polling_ || pacing_ || started_)
      return ThrowType(env, "already started");
    if (draining_) return ThrowType(env, "cannot start from inside onBatch");
    if (info.Length() < 5 || !info[0].IsObject() || !info[1].IsNumber() ||
        !info[2].IsNumber() || !info[3].IsFunction() || !info[4].IsNumber())
      return ThrowType(env,
                       "start(arrays, batchSize, slotSize, callback, pacingUs)");
    Napi::Object arrays = info[0].As<Napi::Object>();
    uint32_t batch = info[1].As<Napi::Number>().Uint32Value();
    uint32_t slot = info[2].As<Napi::Number>().Uint32Value();
    int64_t pacing = info[4].As<Napi::Number>().Int64Value();
    bool adaptive = info.Length() > 5 && info[5].IsBoolean() &&
                    info[5].As<Napi::Boolean>().Value();
    if (batch < 1 || batch > 4096) return ThrowType(env, "batchSize 1..4096");
    if (slot < 1 || slot > 65535 + 1) return ThrowType(env, "slotSize 1..65536");

    struct Want {
      const char* key;
      napi_typedarray_type type;
      size_t elems;
      void** out;
    };
    void* pData = nullptr;
    void* pLen = nullptr;
    void* pAddr = nullptr;
    void* pFam = nullptr;
    void* pPort = nullptr;
    void* pSec = nullptr;
    void* pNsec = nullptr;
    void* pTrunc = nullptr;
    Want wants[] = {
        {"data", napi_uint8_array, size_t(batch) * slot, &pData},
        {"lengths", napi_uint32_array, batch, &pLen},
        {"addrs", napi_uint8_array, size_t(batch) * 16, &pAddr},
        {"families", napi_uint8_array, batch, &pFam},
        {"ports", napi_uint16_array, batch, &pPort},
        {"tsSec", napi_uint32_array, batch, &pSec},
        {"tsNsec", napi_uint32_array, batch, &pNsec},
        {"truncated", napi_uint8_array, batch, &pTrunc},
    };
    for (Want& w : wants) {
      Napi::Value v = arrays.Get(w.key);
      if (!v.IsTypedArray()) {
        char m[96];
        snprintf(m, sizeof m, "arrays.%s must be a typed array", w.key);
        return ThrowType(env, m);
      }
      Napi::TypedArray ta = v.As<Napi::TypedArray>();
      if (ta.TypedArrayType() != w.type || ta.ElementLength() < w.elems) {
        char m[96];
        snprintf(m, sizeof m, "arrays.%s has the wrong type or length", w.key);
        return ThrowType(env, m);
      }
      napi_typedarray_type t;
      size_t length;
      void* data;
      napi_value ab;
      size_t off;
      if (napi_get_typedarray_info(env, ta, &t, &length, &data, &ab, &off) !=
          napi_ok)
        return env.Undefined();
      *w.out = data;
    }

    // Native-side per-slot metadata (addresses, control messages, headers).
    FreeRecv();
    msgs_ = static_cast<mmsghdr*>(calloc(batch, sizeof(mmsghdr)));
    iovs_ = static_cast<iovec*>(calloc(batch, sizeof(iovec)));
    names_ = static_cast<sockaddr_storage*>(calloc(batch, sizeof(sockaddr_storage)));
    ctrl_ = static_cast<char*>(calloc(batch, kCtrlSize));
    if (!msgs_ || !iovs_ || !names_ || !ctrl_) {
      FreeRecv();
      return ThrowSys(env, ENOMEM, "calloc");
    }
    data_ = static_cast<uint8_t*>(pData);
    lengths_ = static_cast<uint32_t*>(pLen);
    addrs_ = static_cast<uint8_t*>(pAddr);
    families_ = static_cast<uint8_t*>(pFam);
    ports_ = static_cast<uint16_t*>(pPort);
    tsSec_ = static_cast<uint32_t*>(pSec);
    tsNsec_ = static_cast<uint32_t*>(pNsec);
    truncated_ = static_cast<uint8_t*>(pTrunc);
    batch_ = batch;
    slot_ = slot;
    for (uint32_t i = 0; i < batch; i++) {
      iovs_[i].iov_base = data_ + size_t(i) * slot;
      iovs_[i].iov_len = slot;
      msgs_[i].msg_hdr.msg_iov = &iovs_[i];
      msgs_[i].msg_hdr.msg_iovlen = 1;
      msgs_[i].msg_hdr.msg_name = &names_[i];
      msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs_[i].msg_hdr.msg_control = ctrl_ + size_t(i) * kCtrlSize;
      msgs_[i].msg_hdr.msg_controllen = kCtrlSize;
    }
    // Keep the JS memory and the callback alive while we hold pointers.
    arraysRef_ = Napi::Persistent(arrays);
    callback_ = Napi::Persistent(info[3].As<Napi::Function>());
    if (asyncContext_ == nullptr)
      asyncContext_ = new Napi::AsyncContext(env, "FlowCollectorIngest");
    env_ = env;
    pacingUs_ = pacing > 0 ? pacing : 0;
    adaptive_ = adaptive;
    haveDrainedAt_ = false;
    lastDelayUs_ = -1;

    if (!EnsureHandles(env)) return env.Undefined();
    if (pacingUs_ > 0 && timerFd_ < 0) {
      timerFd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
      if (timerFd_ < 0) return ThrowSys(env, errno, "timerfd_create");
      int r = uv_poll_init(uv_loop_, &handles_->timer, timerFd_);
      if (r != 0) return ThrowSys(env, -r, "uv_poll_init");
      handles_->timerInit = true;
      if (unrefed_) uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->timer));
    }
    int r = uv_poll_start(&handles_->poll, UV_READABLE, OnReadable);
    if (r != 0) return ThrowSys(env, -r, "uv_poll_start");
    polling_ = true;
    Ref();  // the socket stays alive while it is receiving
    started_ = true;
    return env.Undefined();
  }

  struct Handles {
    uv_poll_t poll;
    uv_poll_t timer;
    bool pollInit;
    bool timerInit;
    int pending;  // uv_close callbacks outstanding
    UdpSocket* owner;
  };

  bool EnsureHandles(Napi::Env env) {
    if (handles_ != nullptr) return true;
    if (napi_get_uv_event_loop(env, &uv_loop_) != napi_ok) {
      ThrowSys(env, EINVAL, "napi_get_uv_event_loop");
      return false;
    }
    handles_ = static_cast<Handles*>(calloc(1, sizeof(Handles)));
    if (handles_ == nullptr) {
      ThrowSys(env, ENOMEM, "calloc");
      return false;
    }
    handles_->owner = this;
    handles_->poll.data = handles_;
    handles_->timer.data = handles_;
    int r = uv_poll_init(uv_loop_, &handles_->poll, fd_);
    if (r != 0) {
      free(handles_);
      handles_ = nullptr;
      ThrowSys(env, -r, "uv_poll_init");
      return false;
    }
    handles_->pollInit = true;
    if (unrefed_) uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->poll));
    return true;
  }

  static void OnReadable(uv_poll_t* h, int status, int events) {
    (void)events;
    Handles* hs = static_cast<Handles*>(h->data);
    UdpSocket* self = hs->owner;
    if (self == nullptr) return;
    if (status < 0) {
      self->Deliver(status, true);
      return;
    }
    self->Drain();
  }

  static void OnTimer(uv_poll_t* h, int status, int events) {
    (void)status;
    (void)events;
    Handles* hs = static_cast<Handles*>(h->data);
    UdpSocket* self = hs->owner;
    if (self == nullptr) return;
    uint64_t expirations;
    while (read(self->timerFd_, &expirations, sizeof expirations) > 0) {
    }
    uv_poll_stop(&hs->timer);
    self->pacing_ = false;
    if (self->fd_ < 0 || !self->started_) return;
    if (uv_poll_start(&hs->poll, UV_READABLE, OnReadable) != 0) return;
    self->polling_ = true;
    // Read what queued while we waited now, rather than after a round trip through epoll; a
    // socket found empty stays polled and the source is idle (DrainInner).
    self->Drain();
  }

  void Drain() {
    draining_ = true;
    DrainInner();
    draining_ = false;
    if (fd_ < 0 && asyncContext_ != nullptr) {  // closed from the callback
      delete asyncContext_;
      asyncContext_ = nullptr;
    }
  }

  // Drain the socket with recvmmsg, one JS callback per batch.
  void DrainInner() {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    Napi::CallbackScope cbScope(env, *asyncContext_);
    uint32_t used = batch_;  // slots whose headers need resetting
    bool drained = false;    // a read found the socket empty
    uint32_t got = 0;        // datagrams this wake-up delivered
    // Adaptive pacing: the buffer's fill now, and how long it took to fill.
    double fill = -1, rcvbuf = 0, filledUs = 0;
    if (adaptive_ && pacingUs_ > 0 && haveDrainedAt_) {
      uint32_t mem[kMemInfoLen];
      struct timespec t;
      if (clock_gettime(CLOCK_MONOTONIC, &t) == 0 &&
          MemInfo(mem, SK_MEMINFO_RCVBUF)) {
        fill = mem[SK_MEMINFO_RMEM_ALLOC];
        rcvbuf = mem[SK_MEMINFO_RCVBUF];
        filledUs = (t.tv_sec - drainedAt_.tv_sec) * 1e6 +
                   (t.tv_nsec - drainedAt_.tv_nsec) / 1e3;
      }
    }
    for (int b = 0; b < kMaxBatchesPerWake; b++) {
      if (fd_ < 0 || !polling_) return;
      for (uint32_t i = 0; i < used; i++) {
        msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        msgs_[i].msg_hdr.msg_controllen = kCtrlSize;
        msgs_[i].msg_hdr.msg_flags = 0;
      }
      int n = recvmmsg(fd_, msgs_, batch_, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
          drained = true;
          break;
        }
        DeliverInScope(-err);
        return;
      }
      if (n == 0) {
        drained = true;
        break;
      }
      used = static_cast<uint32_t>(n);
      struct timespec now = {0, 0};
      bool haveNow = false;
      for (int i = 0; i < n; i++) {
        msghdr& m = msgs_[i].msg_hdr;
        lengths_[i] = msgs_[i].msg_len;
        truncated_[i] = (m.msg_flags & MSG_TRUNC) ? 1 : 0;
        uint8_t* a = addrs_ + size_t(i) * 16;
        const sockaddr_storage& ss = names_[i];
        if (ss.ss_family == AF_INET6) {
          const sockaddr_in6* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
          ports_[i] = ntohs(s6->sin6_port);
          if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            families_[i] = 4;
            memcpy(a, s6->sin6_addr.s6_addr + 12, 4);
            memset(a + 4, 0, 12);
          } else {
            families_[i] = 6;
            memcpy(a, s6->sin6_addr.s6_addr, 16);
          }
        } else {
          const sockaddr_in* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
          ports_[i] = ntohs(s4->sin_port);
          families_[i] = 4;
          memcpy(a, &s4->sin_addr, 4);
          memset(a + 4, 0, 12);
        }
        bool haveTs = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr;
             c = CMSG_NXTHDR(&m, c)) {
          if (c->cmsg_level != SOL_SOCKET) continue;
          if (c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            tsSec_[i] = static_cast<uint32_t>(ts.tv_sec);
            tsNsec_[i] = static_cast<uint32_t>(ts.tv_nsec);
            haveTs = true;
          } else if (c->cmsg_type == SO_RXQ_OVFL) {
            uint32_t d;
            memcpy(&d, CMSG_DATA(c), sizeof d);
            if (d > rxqDrops_) rxqDrops_ = d;
          }
        }
        if (!haveTs) {
          if (!haveNow) {
            clock_gettime(CLOCK_REALTIME, &now);
            haveNow = true;
          }
          tsSec_[i] = static_cast<uint32_t>(now.tv_sec);
          tsNsec_[i] = static_cast<uint32_t>(now.tv_nsec);
        }
      }
      got += static_cast<uint32_t>(n);
      active_ = true;
      if (!DeliverInScope(n)) return;
      if (static_cast<uint32_t>(n) < batch_) {
        drained = true;
        break;
      }
    }
    if (!polling_ || fd_ < 0) return;
    // Nothing came (a timed read found the socket empty, or a spurious wake-up): no wait is
    // scheduled, the socket stays polled until a datagram arrives.
    if (got == 0) {
      SignalIdle();
      return;
    }
    if (pacingUs_ <= 0) {
      if (drained) SignalIdle();
      return;
    }
    int64_t delay = pacingUs_;
    if (adaptive_) {
      if (!drained) {
        delay = 0;
      } else {
        // At most twice the last wait (from 1 ms): a rate measured over one short wait is
        // not trusted with a long one, and the first wait after start-up is short.
        double d = static_cast<double>(pacingUs_);
        double grow = 2.0 * static_cast<double>(lastDelayUs_ > 1000 ? lastDelayUs_ : 1000);
        if (grow < d) d = grow;
        if (fill > 0 && filledUs > 0) {
          double keep = rcvbuf / 8 * filledUs / fill;
          if (keep < d) d = keep;
          // Nor longer than three quarters of what one wake-up reads (kMaxBatchesPerWake
          // batches) takes to arrive at this rate: a wait that queues more leaves datagrams
          // behind, reads again at once and starts over from 2 ms, so a steady rate would cycle
          // through the short waits again and again (with small datagrams or a large buffer,
          // where the fill above allows more than one wake-up reads).
          double most = 0.75 * kMaxBatchesPerWake * static_cast<double>(batch_) * filledUs / got;
          if (most < d) d = most;
        }
        delay = d < 1000 ? 0 : static_cast<int64_t>(d);
      }
      haveDrainedAt_ = drained && clock_gettime(CLOCK_MONOTONIC, &drainedAt_) == 0;
    }
    lastDelayUs_ = delay;
    if (delay > 0) {
      uv_poll_stop(&handles_->poll);
      polling_ = false;
      struct itimerspec its;
      memset(&its, 0, sizeof its);
      its.it_value.tv_sec = static_cast<time_t>(delay / 1000000);
      its.it_value.tv_nsec = static_cast<long>((delay % 1000000) * 1000);
      if (timerfd_settime(timerFd_, 0, &its, nullptr) == 0 &&
          uv_poll_start(&handles_->timer, UV_READABLE, OnTimer) == 0) {
        pacing_ = true;
        return;  // the timed read delivers more or signals idle
      }
      if (uv_poll_start(&handles_->poll, UV_READABLE, OnReadable) == 0)
        polling_ = true;  // pacing unavailable: keep receiving unpaced
    }
    if (drained) SignalIdle();
  }

  // The socket is empty and no timed read is pending: no batch follows until a datagram
  // arrives. Called back once (count 0) after the batches that preceded it, so the JS side can
  // hand over what it holds without a timer of its own while batches come.
  void SignalIdle() {
    if (!active_) return;
    active_ = false;
    DeliverInScope(0);
  }

  // Calls callback(count, drops, bytes, truncatedCount): count > 0 a batch, 0 the idle signal
  // (SignalIdle), < 0 -errno. Returns false when receiving must stop.
  bool DeliverInScope(int count) {
    Napi::Env env = env_;
    double bytes = 0;
    uint32_t trunc = 0;
    for (int i = 0; i < count; i++) {
      bytes += lengths_[i];
      trunc += truncated_[i];
    }
    Napi::Value r = callback_.Call(
        Value(), {Napi::Number::New(env, count),
                  Napi::Number::New(env, rxqDrops_),
                  Napi::Number::New(env, bytes), Napi::Number::New(env, trunc)});
    (void)r;
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
      return false;
    }
    return true;
  }

  void Deliver(int count, bool) {
    Napi::Env env = env_;
    draining_ = true;
    Napi::HandleScope scope(env);
    Napi::CallbackScope cbScope(env, *asyncContext_);
    DeliverInScope(count);
    draining_ = false;
  }

  void StopPolling() {
    if (handles_ != nullptr) {
      if (handles_->pollInit) uv_poll_stop(&handles_->poll);
      if (handles_->timerInit) uv_poll_stop(&handles_->timer);
    }
    polling_ = false;
    pacing_ = false;
    if (started_) {
      started_ = false;
      callback_.Reset();
      arraysRef_.Reset();
      Unref();
    }
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  static void OnHandleClosed(uv_handle_t* h) {
    Handles* hs = static_cast<Handles*>(h->data);
    if (--hs->pending == 0) free(hs);
  }

  // Stops polling, closes libuv handles (freed asynchronously) and fds.
  void Teardown() {
    if (handles_ != nullptr) {
      Handles* hs = handles_;
      handles_ = nullptr;
      hs->owner = nullptr;
      if (hs->pollInit) uv_poll_stop(&hs->poll);
      if (hs->timerInit) uv_poll_stop(&hs->timer);
      hs->pending = (hs->pollInit ? 1 : 0) + (hs->timerInit ? 1 : 0);
      if (hs->pending == 0) {
        free(hs);
      } else {
        if (hs->pollInit)
          uv_close(reinterpret_cast<uv_handle_t*>(&hs->poll), OnHandleClosed);
        if (hs->timerInit)
          uv_close(reinterpret_cast<uv_handle_t*>(&hs->timer), OnHandleClosed);
      }
    }
    polling_ = false;
    pacing_ = false;
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    if (timerFd_ >= 0) {
      close(timerFd_);
      timerFd_ = -1;
    }
    FreeRecv();
    free(smsgs_);
    free(siovs_);
    free(sctrl_);
    sctrl_ = nullptr;
    free(dests_);
    free(destLens_);
    destLens_ = nullptr;
    smsgs_ = nullptr;
    siovs_ = nullptr;
    dests_ = nullptr;
    sendCap_ = 0;
    destCount_ = 0;
    if (!draining_) {
      delete asyncContext_;
      asyncContext_ = nullptr;
    }
  }

  void FreeRecv() {
    free(msgs_);
    free(iovs_);
    free(names_);
    free(ctrl_);
    msgs_ = nullptr;
    iovs_ = nullptr;
    names_ = nullptr;
    ctrl_ = nullptr;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopPolling();
    Teardown();
    return info.Env().Undefined();
  }

  Napi::Value DoRef(const Napi::CallbackInfo& info) {
    unrefed_ = false;
    if (handles_ != nullptr) {
      if (handles_->pollInit) uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->poll));
      if (handles_->timerInit) uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->timer));
    }
    return info.Env().Undefined();
  }

  Napi::Value DoUnref(const Napi::CallbackInfo& info) {
    unrefed_ = true;
    if (handles_ != nullptr) {
      if (handles_->pollInit) uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->poll));
      if (handles_->timerInit) uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->timer));
    }
    return info.Env().Undefined();
  }

  // ---- send --------------------------------------------------------------

  // setDestinations([{ host, port }, ...])
  Napi::Value SetDestinations(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (info.Length() < 1 || !info[0].IsArray())
      return ThrowType(env, "setDestinations(array of { host, port })");
    Napi::Array arr = info[0].As<Napi::Array>();
    uint32_t n = arr.Length();
    if (n == 0 || n > 65536) return ThrowType(env, "1..65536 destinations");
    sockaddr_storage* d =
        static_cast<sockaddr_storage*>(calloc(n, sizeof(sockaddr_storage)));
    socklen_t* dl = static_cast<socklen_t*>(calloc(n, sizeof(socklen_t)));
    if (d == nullptr || dl == nullptr) {
      free(d);
      free(dl);
      return ThrowSys(env, ENOMEM, "calloc");
    }
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value e = arr.Get(i);
      if (!e.IsObject()) {
        free(d);
        free(dl);
        return ThrowType(env, "destination must be { host, port }");
      }
      Napi::Object o = e.As<Napi::Object>();
      char h[INET6_ADDRSTRLEN + 16];
      int64_t port = GetInt(o, "port", -1);
      if (!GetStr(env, o.Get("host"), h, sizeof h) || port < 1 ||
          port > 65535) {
        free(d);
        free(dl);
        return ThrowType(env, "destination must be { host, port }");
      }
      sockaddr_storage tmp;
      socklen_t l = ParseAddr(h, static_cast<int>(port), &tmp);
      if (l == 0) {
        free(d);
        free(dl);
        return ThrowType(env, "destination host is not a literal IP address");
      }
      if (family_ == AF_INET6 && tmp.ss_family == AF_INET) {
        // IPv6 socket sending to IPv4: use the v4-mapped form.
        sockaddr_in* s4 = reinterpret_cast<sockaddr_in*>(&tmp);
        sockaddr_in6 s6;
        memset(&s6, 0, sizeof s6);
        s6.sin6_family = AF_INET6;
        s6.sin6_port = s4->sin_port;
        s6.sin6_addr.s6_addr[10] = 0xff;
        s6.sin6_addr.s6_addr[11] = 0xff;
        memcpy(s6.sin6_addr.s6_addr + 12, &s4->sin_addr, 4);
        memcpy(&tmp, &s6, sizeof s6);
        l = sizeof s6;
      }
      d[i] = tmp;
      dl[i] = l;
    }
    free(dests_);
    free(destLens_);
    dests_ = d;
    destLens_ = dl;
    destCount_ = n;
    return env.Undefined();
  }

  // sendBatch(data: Uint8Array, offsets: Uint32Array, lengths: Uint32Array,
  //           count: number, destIndex?: Uint16Array, gsoSize?: number)
  //   -> number of messages sent
  // Message i is data[offsets[i] .. offsets[i]+lengths[i]) and goes to
  // destinations[destIndex ? destIndex[i] : 0]. Non-blocking: returns how
  // many the kernel accepted (may be fewer than count when the send buffer
  // is full). With gsoSize > 0 each message carries UDP_SEGMENT: the kernel
  // splits it into datagrams of gsoSize bytes (the last may be shorter), so
  // a load generator pays the stack traversal once per message.
  Napi::Value SendBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    if (destCount_ == 0) return ThrowType(env, "setDestinations() first");
    if (info.Length() < 4 || !info[0].IsTypedArray() ||
        !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
        !info[3].IsNumber())
      return ThrowType(env,
                       "sendBatch(data, offsets, lengths, count, destIndex?)");
    Napi::TypedArray data = info[0].As<Napi::TypedArray>();
    Napi::TypedArray offs = info[1].As<Napi::TypedArray>();
    Napi::TypedArray lens = info[2].As<Napi::TypedArray>();
    if (data.TypedArrayType() != napi_uint8_array ||
        offs.TypedArrayType() != napi_uint32_array ||
        lens.TypedArrayType() != napi_uint32_array)
      return ThrowType(env, "data: Uint8Array, offsets/lengths: Uint32Array");
    uint32_t count = info[3].As<Napi::Number>().Uint32Value();
    if (count > offs.ElementLength() || count > lens.ElementLength())
      return ThrowType(env, "count exceeds offsets/lengths");
    const uint16_t* destIdx = nullptr;
    if (info.Length() > 4 && info[4].IsTypedArray()) {
      Napi::TypedArray di = info[4].As<Napi::TypedArray>();
      if (di.TypedArrayType() != napi_uint16_array || di.ElementLength() < count)
        return ThrowType(env, "destIndex: Uint16Array of at least count");
      destIdx = static_cast<const uint16_t*>(ArrayData(env, di));
    }
    uint32_t gso = 0;
    if (info.Length() > 5 && info[5].IsNumber()) {
      gso = info[5].As<Napi::Number>().Uint32Value();
      if (gso > 65507) return ThrowType(env, "gsoSize 0..65507");
    }
    uint8_t* base = static_cast<uint8_t*>(ArrayData(env, data));
    const uint32_t* o = static_cast<const uint32_t*>(ArrayData(env, offs));
    const uint32_t* l = static_cast<const uint32_t*>(ArrayData(env, lens));
    size_t dataLen = data.ElementLength();
    if (count > sendCap_) {
      free(smsgs_);
      free(siovs_);
      free(sctrl_);
      smsgs_ = static_cast<mmsghdr*>(calloc(count, sizeof(mmsghdr)));
      siovs_ = static_cast<iovec*>(calloc(count, sizeof(iovec)));
      sctrl_ = static_cast<char*>(calloc(count, kSendCtrlSize));
      if (smsgs_ == nullptr || siovs_ == nullptr || sctrl_ == nullptr) {
        free(smsgs_);
        free(siovs_);
        free(sctrl_);
        smsgs_ = nullptr;
        siovs_ = nullptr;
        sctrl_ = nullptr;
        sendCap_ = 0;
        return ThrowSys(env, ENOMEM, "calloc");
      }
      sendCap_ = count;
    }
    for (uint32_t i = 0; i < count; i++) {
      if (size_t(o[i]) + l[i] > dataLen)
        return ThrowType(env, "datagram outside data buffer");
      uint32_t d = destIdx ? destIdx[i] : 0;
      if (d >= destCount_) return ThrowType(env, "destIndex out of range");
      siovs_[i].iov_base = base + o[i];
      siovs_[i].iov_len = l[i];
      msghdr& m = smsgs_[i].msg_hdr;
      memset(&m, 0, sizeof m);
      m.msg_iov = &siovs_[i];
      m.msg_iovlen = 1;
      m.msg_name = &dests_[d];
      m.msg_namelen = destLens_[d];
      if (gso > 0 && l[i] > gso) {
        m.msg_control = sctrl_ + size_t(i) * kSendCtrlSize;
        m.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t g = static_cast<uint16_t>(gso);
        memcpy(CMSG_DATA(c), &g, sizeof g);
      }
    }
    uint32_t sent = 0;
    while (sent < count) {
      uint32_t chunk = count - sent;
      if (chunk > 1024) chunk = 1024;  // UIO_MAXIOV
      int r = sendmmsg(fd_, smsgs_ + sent, chunk, MSG_DONTWAIT);
      if (r < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) break;
        if (sent > 0) break;  // report what went out; error shows next call
        return ThrowSys(env, err, "sendmmsg");
      }
      sent += static_cast<uint32_t>(r);
      if (static_cast<uint32_t>(r) < chunk) break;
    }
    return Napi::Number::New(env, sent);
  }

  static void* ArrayData(Napi::Env env, Napi::TypedArray ta) {
    napi_typedarray_type t;
    size_t length;
    void* data = nullptr;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, ta, &t, &length, &data, &ab, &off);
    return data;
  }

  int fd_ = -1;
  int family_ = AF_INET;
  int timerFd_ = -1;
  bool polling_ = false;
  bool pacing_ = false;
  bool started_ = false;
  bool unrefed_ = false;
  bool draining_ = false;
  int64_t pacingUs_ = 0;
  bool adaptive_ = false;
  // Adaptive pacing: when the last wake-up emptied the socket (CLOCK_MONOTONIC), and the wait
  // chosen after it (-1: none yet).
  struct timespec drainedAt_ = {0, 0};
  bool haveDrainedAt_ = false;
  int64_t lastDelayUs_ = -1;
  // Batches were delivered since the last idle signal (see SignalIdle).
  bool active_ = false;
  uint32_t rxqDrops_ = 0;
  uv_loop_t* uv_loop_ = nullptr;
  Handles* handles_ = nullptr;
  Napi::Env env_ = Napi::Env(nullptr);
  Napi::AsyncContext* asyncContext_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::ObjectReference arraysRef_;

  // receive state
  uint32_t batch_ = 0;
  uint32_t slot_ = 0;
  mmsghdr* msgs_ = nullptr;
  iovec* iovs_ = nullptr;
  sockaddr_storage* names_ = nullptr;
  char* ctrl_ = nullptr;
  uint8_t* data_ = nullptr;
  uint32_t* lengths_ = nullptr;
  uint8_t* addrs_ = nullptr;
  uint8_t* families_ = nullptr;
  uint16_t* ports_ = nullptr;
  uint32_t* tsSec_ = nullptr;
  uint32_t* tsNsec_ = nullptr;
  uint8_t* truncated_ = nullptr;

  // send state
  mmsghdr* smsgs_ = nullptr;
  iovec* siovs_ = nullptr;
  char* sctrl_ = nullptr;
  uint32_t sendCap_ = 0;
  sockaddr_storage* dests_ = nullptr;
  socklen_t* destLens_ = nullptr;
  uint32_t destCount_ = 0;
};

// mallocTrim(): glibc's malloc_trim(0), process-wide: gives the system back the free pages of
// every arena, also those between blocks still in use (src/service/memory.ts). Returns true when
// glibc released memory; undefined without glibc (musl: nothing to call).
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#if defined(__GLIBC__)
  return Napi::Boolean::New(env, malloc_trim(0) == 1);
#else
  return env.Undefined();
#endif
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpSocket", UdpSocket::Init(env));
  exports.Set("mallocTrim", Napi::Function::New(env, MallocTrim, "mallocTrim"));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(flow_ingest, InitModule)
