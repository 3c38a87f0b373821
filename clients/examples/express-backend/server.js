// order-api: an Express backend that ships its logs to loglens with @loglens/client.
// Every request is logged when its response finishes (endpoint, method, status, duration_ms,
// trace_id); errors reach one error middleware, which logs them with error_type and stack_trace.
import { randomUUID } from 'node:crypto';
import express from 'express';
import LogHelper from '@loglens/client';

const apiKey = process.env.LOGLENS_API_KEY;
if (!apiKey) {
  console.error('set LOGLENS_API_KEY to the key that `loglens dev` printed');
  process.exit(1);
}

const logger = new LogHelper({
  logServerUrl: process.env.LOGLENS_URL ?? 'http://127.0.0.1:8000',
  service: 'order-api',
  environment: process.env.LOGLENS_ENVIRONMENT ?? 'development',
  apiKey,
  flushIntervalMs: 1000, // a demo should show its logs at once; the default is 5 s
});

class WarehouseTimeout extends Error {
  name = 'WarehouseTimeout';
}

const orders = new Map();
const app = express();
app.use(express.json());

app.use((req, res, next) => {
  const traceId = req.get('x-trace-id') ?? randomUUID().replaceAll('-', '');
  const started = process.hrtime.bigint();
  req.traceId = traceId;
  res.set('x-trace-id', traceId);
  res.on('finish', () => {
    const status = res.statusCode;
    // The route pattern (/api/v1/orders/:id), not the raw path, so one endpoint is one value.
    const endpoint = req.route ? req.baseUrl + req.route.path : req.path;
    logger.log(status >= 500 ? 'ERROR' : status >= 400 ? 'WARN' : 'INFO', `${req.method} ${req.originalUrl} ${status}`, {
      endpoint,
      method: req.method,
      http_status_code: status,
      duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      trace_id: traceId,
    });
  });
  next();
});

app.post('/api/v1/orders', (req, res) => {
  const { user_id: userId, items } = req.body ?? {};
  if (!userId || !Array.isArray(items) || items.length === 0) {
    logger.warn('Order rejected: user_id and at least one item are required', {
      user_id: userId,
      trace_id: req.traceId,
      application_error_code: 'ORDER_INVALID',
    });
    res.status(400).json({ error: 'user_id and at least one item are required' });
    return;
  }
  const orderId = `o-${orders.size + 1}`;
  orders.set(orderId, { orderId, userId, items });
  logger.info('Order created', { user_id: userId, trace_id: req.traceId, metadata: { order_id: orderId, items: items.length } });
  res.status(201).json({ order_id: orderId });
});

app.get('/api/v1/orders/:id', (req, res) => {
  const order = orders.get(req.params.id);
  if (!order) {
    res.status(404).json({ error: 'no such order' });
    return;
  }
  res.json(order);
});

// Express 5 hands a rejected promise from an async route to the error middleware.
app.get('/api/v1/inventory/:sku', async (req) => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  throw new WarehouseTimeout(`warehouse did not answer for ${req.params.sku}`);
});

app.use((err, req, res, _next) => {
  logger.error(err.message, {
    error: err,
    endpoint: req.route ? req.baseUrl + req.route.path : req.path,
    method: req.method,
    trace_id: req.traceId,
  });
  res.status(500).json({ error: 'internal error', trace_id: req.traceId });
});

const port = Number(process.env.PORT ?? 8002);
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`order-api listening on http://127.0.0.1:${port}`);
  logger.info('order-api started', { metadata: { port } });
});

async function shutdown(signal) {
  logger.info('order-api stopping', { metadata: { signal } });
  server.close();
  await logger.destroy({ timeoutMs: 5000 }); // delivers what is still queued
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
