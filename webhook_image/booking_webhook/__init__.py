"""The YooKassa webhook service and the sales bot."""
