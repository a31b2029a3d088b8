// Runs a seed handler on a delivered payload (JSON on stdin) with recording services,
// and prints the calls it made.
const calls = [];
const recorder = (service) => new Proxy({}, {
  get: (_, method) => async (arg) => { calls.push({ service, method, arg }); },
});
globalThis.paymentService = recorder('paymentService');
globalThis.notificationService = recorder('notificationService');
globalThis.withdrawalService = recorder('withdrawalService');

const handler = require(`./${process.argv[2]}`);
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  await handler(JSON.parse(input));
  process.stdout.write(JSON.stringify(calls));
});
