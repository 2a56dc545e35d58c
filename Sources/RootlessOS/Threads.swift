import Glibc

/// Plain pthreads: the download workers of a pull, SlirpNet's loop, a peer tool's stderr
/// reader. Not Dispatch and not Tasks: a pull never creates a namespace in its own process
/// (it spawns `rootless unshare`), and the run path, which does, starts threads only after
/// its clone.
package enum Threads {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    /// A thread running body; nil if none could be created.
    package static func start(_ body: @escaping () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var t = pthread_t()
        let r = pthread_create(
            &t, nil,
            { p in
                let b = Unmanaged<Box>.fromOpaque(p!).takeRetainedValue()
                b.body()
                return nil
            }, box)
        if r != 0 { Unmanaged<Box>.fromOpaque(box).release(); return nil }
        return t
    }

    package static func join(_ t: pthread_t) { pthread_join(t, nil) }
    /// Lets t end by itself: nobody joins it (its resources go when it ends, or with the process).
    package static func detach(_ t: pthread_t) { pthread_detach(t) }
}

/// A mutex with a condition, for the hand-over between download threads and the
/// unpacking thread.
package final class Monitor {
    private var m = pthread_mutex_t()
    private var c = pthread_cond_t()
    package init() { pthread_mutex_init(&m, nil); pthread_cond_init(&c, nil) }
    deinit { pthread_cond_destroy(&c); pthread_mutex_destroy(&m) }

    package func locked<T>(_ f: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try f()
    }
    /// Waits (lock held by the caller inside `locked`) until notified.
    package func wait() { pthread_cond_wait(&c, &m) }
    package func notifyAll() { pthread_cond_broadcast(&c) }
}
