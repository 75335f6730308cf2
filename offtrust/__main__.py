from offtrust._entry import main

main()
