// Seed 004, "Casos de Uso 2. Saque de Cliente", verbatim.
async function handleCashOut(payload) {
  await withdrawalService.confirm({
    withdrawalId: payload.externalId,
    transactionId: payload.transactionId,
    amount: payload.originalAmount,
    fee: payload.feeAmount
  });
}

module.exports = handleCashOut;
