// The storefront's web page: fetches search results from the gateway.
const term = process.argv[2] || "tea";
console.log(`searching for ${term} via /shop/search`);
