"""The sandbox: an emulated Vercel, GitHub and Upstash on loopback (Redis on a real redis-server).

keyroll never imports this package outside tests, the demo and the benchmarks.
"""
