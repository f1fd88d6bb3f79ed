/**
 * nchan (nginx + libnginx-mod-nchan), the C peer of the hub benchmarks: one nginx process
 * (`master_process off`, one worker) from a generated config in a temporary directory (own
 * pid, error log and temp paths), publishing at `POST /pub/CHANNEL` and subscribing at
 * `GET /sub/CHANNEL` (event stream, replaying the buffer from the oldest message).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { freePort, waitForPort } from './ports.js'

/** Options of {@link startNchan}. */
export interface NchanOptions {
  /** Messages kept per channel (`nchan_message_buffer_length`). */
  bufferLength: number
  /** Pin nginx to this CPU with `taskset` (the load generator then gets the other one). */
  cpu?: number | undefined
  /** `worker_connections` (and the worker's file limit). Default 4096. */
  connections?: number | undefined
}

/** A running nchan. */
export interface Nchan {
  url: string
  pid: number
  stop(): Promise<void>
}

/** Starts nchan on a free loopback port; resolves once it accepts connections. */
export async function startNchan(options: NchanOptions): Promise<Nchan> {
  const dir = mkdtempSync(join(os.tmpdir(), 'herald-nchan-'))
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    mkdirSync(join(dir, d), { recursive: true })
  const port = await freePort()
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile ${(options.connections ?? 4096) + 1000};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
events { worker_connections ${options.connections ?? 4096}; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  nchan_shared_memory_size 512M;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location ~ ^/pub/(\\w+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length ${options.bufferLength};
      nchan_message_timeout 1h;
    }
    location ~ ^/sub/(\\w+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message oldest;
    }
  }
}
`,
  )
  const nginx = [
    '/usr/sbin/nginx',
    '-c',
    join(dir, 'nginx.conf'),
    '-p',
    dir,
    '-e',
    join(dir, 'error.log'),
  ]
  const command =
    options.cpu === undefined ? nginx : ['taskset', '-c', String(options.cpu), ...nginx]
  const child: ChildProcess = spawn(command[0] as string, command.slice(1), { stdio: 'ignore' })
  await waitForPort(port, 10_000)
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          rmSync(dir, { recursive: true, force: true })
          resolve()
        }
        if (child.exitCode !== null || child.signalCode !== null) return done()
        child.once('exit', done)
        child.kill('SIGTERM')
      }),
  }
}
