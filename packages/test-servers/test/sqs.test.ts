import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FauxqsServer } from '../src/sqs/index.js';

// The fauxqs launcher, spoken to in SQS's JSON protocol (AWS JSON 1.0) over HTTP.
let server: FauxqsServer;

/** The fields of SQS JSON answers these tests read. */
interface SqsAnswer {
  QueueUrl?: string;
  Attributes?: Record<string, string>;
  Messages?: Array<{ Body: string }>;
}

async function sqs(action: string, body: Record<string, unknown>): Promise<{ status: number; json: SqsAnswer }> {
  const response = await fetch(`${server.endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AmazonSQS.${action}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as SqsAnswer };
}

async function counts(QueueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { json } = await sqs('GetQueueAttributes', { QueueUrl, AttributeNames: ['All'] });
  return {
    visible: Number(json.Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(json.Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

beforeAll(async () => {
  server = await FauxqsServer.start();
});

afterAll(async () => {
  await server.stop();
});

describe('fauxqs launcher (SQS stand-in)', () => {
  it('listens on 127.0.0.1 only', () => {
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).toBeGreaterThan(0);
  });

  it('counts a lapsed visibility timeout as visible again without a receive', async () => {
    const { json: created } = await sqs('CreateQueue', { QueueName: 'counts' });
    const QueueUrl = created.QueueUrl as string;
    await sqs('SendMessage', { QueueUrl, MessageBody: 'm' });
    const { json: received } = await sqs('ReceiveMessage', { QueueUrl, VisibilityTimeout: 1 });
    expect(received.Messages).toHaveLength(1);
    expect(await counts(QueueUrl)).toEqual({ visible: 0, inFlight: 1 });
    // Polled with a deadline: SQS makes it visible again after 1 s.
    const deadline = Date.now() + 5000;
    let now = await counts(QueueUrl);
    while (now.visible !== 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      now = await counts(QueueUrl);
    }
    expect(now).toEqual({ visible: 1, inFlight: 0 });
  });

  it('accepts the characters SQS accepts (emoji included) and refuses the others', async () => {
    const { json: created } = await sqs('CreateQueue', { QueueName: 'chars' });
    const QueueUrl = created.QueueUrl as string;
    expect((await sqs('SendMessage', { QueueUrl, MessageBody: 'party 🎉 你好' })).status).toBe(200);
    const refused = await sqs('SendMessage', { QueueUrl, MessageBody: 'nul \u0000' });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toMatch(/InvalidMessageContents/);
    const { json } = await sqs('ReceiveMessage', { QueueUrl, MaxNumberOfMessages: 10 });
    expect(json.Messages?.map((m) => m.Body)).toEqual(['party 🎉 你好']);
  });

  it('restarts on the same port, empty (fauxqs keeps everything in memory)', async () => {
    await sqs('CreateQueue', { QueueName: 'before-restart' });
    const port = server.port;
    await server.stop();
    expect(server.running).toBe(false);
    await expect(fetch(`${server.endpoint}/health`)).rejects.toThrow();
    await server.start();
    expect(server.port).toBe(port);
    const { status, json } = await sqs('GetQueueUrl', { QueueName: 'before-restart' });
    expect(status).toBe(400);
    expect(JSON.stringify(json)).toMatch(/QueueDoesNotExist/);
  });
});
