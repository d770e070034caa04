import express from 'express';

// The reference endpoint every benchmark compares against: Express with one JSON route, nothing else.
const app = express();
app.get('/bare', (_req, res) => {
  res.json({ resultCode: '000000', resultMsg: 'success' });
});
app.listen(Number(process.env.PORT), '127.0.0.1');
