"""Finding credentials in text: detectors for Upstash/Vercel formats and a known-value matcher."""
